"""Turn a sweep's TensorBoard logs into a results table (markdown and CSV) and learning-curve plots, offline.

    python benchmark/report.py benchmark/runs/quick --out benchmark/results/quick

It reads every finished run below the sweep directory (a task directory with a `done` marker, see sweep.py;
the directory may hold several sweeps) and reports, per env and script (and variant), the final return under two
protocols:

- train: the mean episodic return of the training episodes (with exploration noise) that ended in the last
  10% of the run's steps;
- eval: the last deterministic evaluation (noise-free actor, the mean of its episodes; Fujimoto et al. 2018).

Over seeds: mean +- sample std, the interquartile mean (IQM, the mean of the middle 50%), and the range of the
seeds [min, max]. No confidence interval is claimed for a group: with 3 seeds a 95% percentile bootstrap of the IQM
(or of the mean) is exactly [min, max], so the tables give that range, and the learning curves shade it (the mean
over seeds, the seeds' min and max at each step). runs.csv also has, per run, the mean of its last 100 training
episodes (all of them when fewer), the statistic of CleanRL's published table (openrlbenchmark's).

Left out, and listed with the reason at the end of every markdown file (and on the terminal): the tasks that
failed or stopped (their marker's text: the exit code, and for a run that diverged, exit code 3, the script's
error line), and a finished run under a protocol whose final return there is not finite (a NaN is never
averaged; the run stays in the other protocol if its return there is finite).

Beside published numbers: for a sweep without variants that holds both scripts, reference.md and reference.csv put
ours (per script, with the seeds of a cell that has fewer) beside the published values of
benchmark/reference_results.csv, a row per env that both have, every column naming its statistic (defined under the
table): CleanRL's training returns are openrlbenchmark's statistic, per run the mean of its last 100 training
episodes, then mean +- population std over seeds, and ours beside them are computed so; Fujimoto et al. 2018's
(his OurDDPG, and OpenAI Baselines' DDPG in his column "DDPG") are the max over training of the mean over seeds of
the deterministic evaluations, and ours beside them too ("best eval"). Ours under the train and eval protocols above
are there as well, under their own names. Below the table (and in reference_tests.csv), each of ours with 2 or more
seeds is tested against each published value of its statistic that gives a spread, from the two sides' means, sample
stds and seeds (a population std over n seeds times sqrt(n / (n - 1))): Welch's t-test, Holm over the table.

Provenance (provenance.md): the report's command, the version of the scripts that each run ran (versions.jsonl),
and each run's machine (its machine.json: host, CPU and whether it has AVX-512, cores, threads and the variables
that set them, package versions; per start of its process, said when a resumed run's starts differ). For runs
without one, what their sweep's machine_note.txt says is known of them, if it has one.

Variants: a sweep with named variants (e.g. exploration noise gaussian / ou / param) holds OUT/variants.json,
{"variants": [{"name": ..., "args": [...]}, ...]}, and its tasks in OUT/{variant}/{script}/{env_id}/seed{N}/.
Then every table and CSV has a variant column, the learning curves a line per variant x script (a colour per
variant, a line style per script), PyTorch is compared with JAX variant by variant, and variants.md and
variants.csv compare every variant with a baseline variant (--baseline-variant NAME; default the first in
variants.json) per script, protocol and env and over all envs, two-sided, with the machinery below.

It also compares the PyTorch script with the JAX script per env and protocol (comparison.md, comparison.csv),
with rliable (Agarwal et al. 2021, arXiv:2108.13264): the probability of improvement P(PyTorch > JAX) (the
chance that a run of one beats a run of the other) and the difference of IQMs, each with a 95% stratified
bootstrap interval (resampling each group's seeds, --bootstrap-reps resamples). A percentile bootstrap over 3
seeds is overconfident (3 runs all above 3 others give the interval [1, 1]), so a difference is declared only
when that interval excludes 0.5 and a permutation test of P(X > Y) = 0.5 (exact up to 8 seeds a side) agrees
at the 5% level; otherwise the verdict is "no difference found". Two-sided, this cannot happen with 3
seeds a side (the smallest p-value is 2/20 = 0.1): it takes 4.

Both comparisons also have an "all envs" row per script (regression report) and protocol: the aggregate
probability of improvement of Agarwal et al., P(X > Y) averaged over the envs that both sides have, with a
stratified bootstrap interval (each side's runs resampled within each env) and a stratified permutation test
(runs exchanged between the sides within each env only; exact up to 20,000 arrangements, the product over envs
of C(n_x + n_y, n_x), otherwise 9,999 random ones with a fixed seed), under the same rule. rliable computes
these on runs x envs matrices, which need as many runs in every env; here the point estimate is rliable's
per-env P(X > Y), averaged, and the bootstrap resamples as rliable's does (each side's runs with replacement,
env by env) but with NumPy, so that envs may have different numbers of seeds. There is no IQM difference over
envs: their returns are on different scales.

Regression report: compare a new sweep with a baseline sweep, per env x script x protocol and over all envs per
script x protocol, asking whether the new one is worse (the permutation tests one-sided: possible from 3 seeds
a side). It writes regression.md and regression.csv, lists the groups present on one side only as not
compared, and exits with 1 when an "all envs" row finds the new sweep worse, 0 otherwise (a pull request's
gate): 4 decisions (2 scripts x 2 protocols), however many envs. The per-env rows stay in the report as
information but do not decide: each raises a false alarm in about 5% of cases, so among the 12 to 24 of a sweep
one does in 45-70% of reports.

    python benchmark/report.py benchmark/runs/new --baseline benchmark/runs/ddpg --out benchmark/results/new

A variant study makes many comparisons: with k variants and E envs, (k - 1) x (E + 1) per script and protocol
(8 for 3 variants x 3 envs; k - 1 for one env, whose all-envs row would only repeat its env's row), each with a
false-alarm rate of about 2.4% (5 seeds a side, two-sided), so the chance that one of them raises a false alarm
grows with their number. variants.md therefore corrects each family, the compared rows of one script and
protocol, by Holm-Bonferroni on their permutation p-values (the column Holm p; the verdict needs Holm p <= 0.05
and the interval excluding 0.5), and says under the table how many comparisons each family has. Holm holds a
family's chance of any false alarm at 5% whatever the dependence between its rows (an all-envs row shares its
runs with the per-env rows, and every variant is compared with the same baseline runs). One family per script
and protocol, because a table is read so (results are comparable only under one protocol) and a finding is
trusted when it holds under both protocols and in both scripts, the same algorithm; over the 4 tables of a report
the chance of a false alarm somewhere is then at most 4 x 5% (less: train and eval come from the same runs). A
family over all four would divide the level by 4 again, which costs much power (below) for protection the
reader gets anyway by asking for a finding in more than one table.

Beside the learning curves of a sweep with variants, rliable's figures per variant x script over all envs:
aggregate_iqm.png (the IQM with its 95% stratified-bootstrap interval, a panel per protocol) and
performance_profiles.png (the share of runs above each score, 95% band), on final returns normalised per env
and protocol, (return - min) / (max - min) over all runs of that env in the report, so 0 is the worst run of
that env and 1 the best (no reference scores are needed, but the scale depends on the runs reported together).
rliable's matrices need as many runs of every group in every env: the figures take the envs that every group has
and, in each, every group's first seeds, as many as the fewest any group has in any of them; variants.md says
how many.

The error rates of these rules, by simulation (9 minutes on 2 cores shared with a sweep; the variant study's
with --calibrate-variants, output in benchmark/results/calibration/):

    python benchmark/report.py --calibrate

Measured so, for groups drawn from one distribution: with 3 seeds a side the interval alone excludes 0.5 in 20%
of pairs, with the permutation test never (two-sided) or in 4.9% (one-sided); with 5 seeds, 8.2% alone and 2.4%
with the test (two-sided). The gate, on 4 envs with NEW shifted by the same amount on every env (500 simulated
pairs of sweeps a setting): with 3 seeds a side it fails 4.0% of unchanged sweeps, 19.6% of sweeps worse by
0.5 sd and 57.0% of sweeps worse by 1 sd; with 5 seeds, 3.2%, 34.0% and 84.0%. Any of the 4 per-env rows of
the same comparison finds an unchanged sweep worse in 17.8%. So a report's 4 gate decisions raise at least one
false alarm in about 15% (3 seeds) or 12% (5 seeds) of unchanged pull requests, at most (were they independent).

A variant study, simulated (python benchmark/report.py --calibrate-variants; 11 minutes on 2 shared cores; 1,000
studies a setting): 3 variants x 3 envs, one script and protocol, so one family of 8 comparisons. With 5 seeds a
side, 20.8% of studies without any difference raise a false alarm uncorrected, 0.7% with Holm. A variant better
by 1 sd on every env is found over all envs in 66.5% of studies uncorrected, 35.0% with Holm, and on a given env
in 19.6% and 0.0%; better by 1 sd on one env only, its row finds it in 21.3% and 0.0%. With Holm a per-env row
of 5 seeds a side is as good as undecidable: its smallest p, 2/252 = 0.0079, is above Holm's first two
thresholds (0.05/8, 0.05/7), so it can pass only after two other rows of its family have. With 10 seeds a side
(smallest p 0.0002): false alarms 27.5% uncorrected, 3.9% with Holm; 1 sd better on every env found over all
envs in 95.1% and 80.5%, on an env in 52.1% and 22.4%; on one env only, 52.1% and 20.0%. So a variant study
that wants per-env verdicts needs about 10 seeds; with 5 it gets the all-envs rows.
"""

# The report's parts, each a module beside this one, imported in this direction only (runs <- stats <- compare
# <- tables, calibration; runs <- figures, provenance; tables <- reference): report_runs (reading a sweep: runs,
# final returns, versions, machines), report_stats (IQM, P(X > Y) and its bootstrap, permutation test, Holm),
# report_compare (the comparisons and their verdicts), report_calibration (their error rates, simulated),
# report_tables (markdown, CSV), report_provenance (provenance.md), report_figures, and report_reference (ours
# beside the published values of reference_results.csv).
import argparse
import sys
from pathlib import Path

from report_calibration import print_calibration, print_variant_calibration
from report_compare import (
    SCRIPT_COLUMNS,
    SWEEP_COLUMNS,
    VARIANT_COLUMNS,
    compare_scripts,
    compare_sweeps,
    compare_variants,
    gate,
    with_variant,
)
from report_figures import aggregate_figures, group_styles, plot_env
from report_provenance import write_provenance
from report_reference import has_reference, write_reference
from report_runs import LABELS, final_returns, find_runs, unfinished_tasks, variant_names
from report_stats import COMPARISON_SAMPLES
from report_tables import (
    GATE_NOTE,
    family_note,
    left_out_note,
    markdown_table,
    print_left_out,
    shown,
    summarise,
    write_comparison,
    write_csv,
)

# reached as report.NAME by tests/test_benchmark_report.py
from report_calibration import calibrate, calibrate_gate, calibrate_variants, study_settings  # noqa: F401
from report_compare import ALL_ENVS, compare_groups  # noqa: F401
from report_figures import BAND, FIGURES, NORMALISATION, curve  # noqa: F401
from report_stats import (  # noqa: F401
    ADJUSTED,
    aggregate_improvement,
    direction,
    holm,
    iqm,
    permutation_p,
    probability_of_improvement,
)


def write_variants(per_run: list, variants: list, baseline: str, styles: dict, out: Path, reps: int, left_out: list):
    """variants.md and variants.csv, every variant against `baseline`, and rliable's figures of the variants."""
    compared = compare_variants(per_run, variants, baseline, reps)
    figures = aggregate_figures(per_run, styles, out, reps)
    end = family_note(compared, baseline) + (f"\n{figures}\n" if figures else "")
    write_comparison(out / "variants", compared, VARIANT_COLUMNS, "variant", baseline, "two-sided", "", end, left_out)


def no_runs(sweeps: list) -> int:
    print(f"error: no finished runs under {', '.join(map(str, sweeps))}; run a sweep first")
    return 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sweeps", type=Path, nargs="*", help="sweep directories (as given to sweep.py --out)")
    parser.add_argument("--out", type=Path, help="where the tables, CSV and plots go")
    parser.add_argument("--baseline", type=Path, help="a baseline sweep: also write the regression report against it")
    parser.add_argument(
        "--baseline-variant", help="the variant that the others are compared with (default: the first listed)"
    )
    parser.add_argument("--bootstrap-reps", type=int, default=COMPARISON_SAMPLES, help="resamples of a comparison")
    parser.add_argument("--calibrate", action="store_true", help="print the comparison's error rates (simulation)")
    parser.add_argument("--pairs", type=int, default=2000, help="pairs of groups that --calibrate simulates")
    parser.add_argument("--gate-pairs", type=int, default=500, help="pairs of sweeps per setting, for the gate")
    parser.add_argument(
        "--calibrate-variants", action="store_true", help="print a variant study's family-wise error rate and power"
    )
    parser.add_argument("--studies", type=int, default=1000, help="studies per setting, for --calibrate-variants")
    args = parser.parse_args(argv)
    if args.calibrate or args.calibrate_variants:
        if args.calibrate:
            print_calibration(args.pairs, args.bootstrap_reps, args.gate_pairs)
        if args.calibrate_variants:
            print_variant_calibration(args.studies, args.bootstrap_reps)
        return 0
    if not args.sweeps or args.out is None:
        parser.error("give the sweep directories and --out, or --calibrate")
    runs = [run for sweep in args.sweeps for run in find_runs(sweep)]
    if not runs:
        return no_runs(args.sweeps)
    baseline_runs = find_runs(args.baseline) if args.baseline else None
    if baseline_runs == []:
        return no_runs([args.baseline])
    variants = variant_names(runs)
    baseline_variant = args.baseline_variant or next(iter(variants), None)
    if baseline_variant not in [*variants, None]:
        parser.error(f"--baseline-variant {baseline_variant}: the variants are {', '.join(variants) or 'none'}")
    args.out.mkdir(parents=True, exist_ok=True)
    per_run, non_finite = final_returns(runs, variants)
    left_out = [*(task for sweep in args.sweeps for task in unfinished_tasks(sweep)), *non_finite]
    if not per_run:
        print_left_out(left_out)
        return no_runs(args.sweeps)
    rows, styles = summarise(per_run), group_styles(per_run)
    write_csv(args.out / "runs.csv", shown(per_run))
    write_csv(args.out / "results.csv", shown(rows))
    for env_id in sorted({r["env_id"] for r in per_run}):
        plot_env(env_id, per_run, styles, args.out / f"{env_id}.png")
    table = markdown_table(shown(rows))
    (args.out / "results.md").write_text(table + left_out_note(left_out))
    print(table)
    if has_reference(per_run):
        write_reference(args.out, rows, per_run, left_out)
    columns = with_variant(SCRIPT_COLUMNS, per_run)
    comparison = compare_scripts(per_run, columns, args.bootstrap_reps)
    write_comparison(args.out / "comparison", comparison, columns, *LABELS.values(), "two-sided", left_out=left_out)
    if len(variants) > 1:
        write_variants(per_run, variants, baseline_variant, styles, args.out, args.bootstrap_reps, left_out)
    regression = []
    if args.baseline:
        baseline_per_run, baseline_non_finite = final_returns(baseline_runs, variant_names(baseline_runs))
        columns = with_variant(SWEEP_COLUMNS, per_run + baseline_per_run)
        regression = compare_sweeps(per_run, baseline_per_run, columns, args.bootstrap_reps)
        test = "one-sided (NEW worse)"
        left_out += [*unfinished_tasks(args.baseline), *baseline_non_finite]
        write_comparison(args.out / "regression", regression, columns, "NEW", "baseline", test, GATE_NOTE, "", left_out)
    write_provenance(args.out / "provenance.md", runs, argv if argv is not None else sys.argv[1:])
    print(f"{len(runs)} runs; tables, CSV and plots in {args.out}")
    print_left_out(left_out)
    return gate(regression)


if __name__ == "__main__":
    raise SystemExit(main())

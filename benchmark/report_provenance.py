"""provenance.md of benchmark/report.py: what made a report's runs. The command of the report, the version of the
scripts each run ran (sweep.py's versions.jsonl), the seeds of each group, and the machine of each run (its
machine.json, one entry per start of its process: host, CPU and its vector extensions, cores, threads and the
variables that set them, package versions), with what is known of the machine of runs that predate machine.json
(their sweep's machine_note.txt)."""

from pathlib import Path

from report_runs import LABELS, MACHINE_FILE, MACHINE_NOTE, machine_note, run_machines, run_versions, sweep_dir

RUN_COLUMNS = ("env_id", "variant", "script")  # a provenance table's groups, seeds aside
NOT_RECORDED = "not recorded"


def seed_ranges(seeds: list) -> str:
    """1 2 3 5 -> "1-3, 5"."""
    ranges = []
    for seed in sorted(set(seeds)):
        if ranges and seed == ranges[-1][1] + 1:
            ranges[-1][1] = seed
        else:
            ranges.append([seed, seed])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges)


def vector_text(extensions: list) -> str:
    """Which of the vector extensions that round differently a CPU has: AVX-512 (avx512f), or AVX2 only."""
    if "avx512f" in extensions:
        return "AVX-512 (avx512f)"
    if "avx2" in extensions:
        return "AVX2, no AVX-512 (no avx512f)"
    return f"neither AVX2 nor AVX-512 (vector extensions: {', '.join(extensions) or 'none listed'})"


def listed(values: dict, unset: str, joiner: str = " ") -> str:
    """{name: value} as "name value, ..." (joiner " ") or "name=`value`, ..." (joiner "="), a None as `unset`."""
    def text(name, value):
        if value is None:
            return f"{name} {unset}"
        return f"{name}=`{value}`" if joiner == "=" else f"{name} {value}"

    return ", ".join(text(name, value) for name, value in values.items()) or "none"


def machine_text(start: dict) -> str:
    """One start of a run's process as provenance.md describes its machine (all but when and from which step)."""
    get = start.get
    return (
        f"host {get('host', '?')}; CPU {get('cpu', '?')}, {vector_text(get('vector_extensions') or [])}; "
        f"{get('cores_usable', '?')} of {get('cores', '?')} cores usable; device {get('device', '?')}; threads "
        f"{listed(get('threads') or {}, 'unknown')}; {listed(get('thread_variables') or {}, 'unset', '=')}; "
        f"versions {listed(get('versions') or {}, 'not installed')}"
    )


def run_machine_cell(starts: list, reason: str, names: dict) -> str:
    """A run's cell of the machine table: its machine's name (`names`: {machine_text: name}), or each start's when
    its starts differ, or why it has none."""
    if not starts:
        return f"{NOT_RECORDED} ({reason})"
    texts = [machine_text(start) for start in starts]
    if len(set(texts)) == 1:
        return names[texts[0]] + (f" ({len(starts)} starts)" if len(starts) > 1 else "")
    each = ", ".join(f"{names[text]} from step {start.get('start_step', 0):,}" for start, text in zip(starts, texts))
    return f"{each}: **its starts differ** (resumed on another machine, or with other threads or versions)"


def machine_lines(runs: list) -> list:
    """provenance.md's machine section: each machine met, then a row per run naming its machine, then what is known
    of the runs without a machine.json."""
    records = {run: run_machines(run) for run in runs}
    names = {}
    for starts, _ in records.values():
        for start in starts:
            names.setdefault(machine_text(start), f"M{len(names) + 1}")
    ordered = sorted(runs, key=lambda run: (run.env_id, run.variant, LABELS.get(run.script, run.script), run.seed))
    unrecorded = [run for run in runs if not records[run][0]]
    notes = {}
    for run in unrecorded:
        notes.setdefault((str(sweep_dir(run.task_dir)), machine_note(run)), []).append(run)
    lines = [
        "",
        f"Machines (each run's {MACHINE_FILE}, which the scripts write: one entry per start of the run's process, so "
        "a resumed run has several; threads and versions decide a seed's numbers as the CPU does):",
        "",
        *(f"- {name}: {text}" for text, name in names.items()),
        *([f"- none: no run of this report has a readable {MACHINE_FILE}"] if not names else []),
        "",
        "| env_id | variant | script | seed | machine |",
        "|---|---|---|---|---|",
        *(f"| {run.env_id} | {run.variant or '-'} | {LABELS.get(run.script, run.script)} | {run.seed} | "
          f"{run_machine_cell(*records[run], names)} |" for run in ordered),
    ]  # fmt: skip
    if unrecorded:
        lines += [
            "",
            f"{len(unrecorded)} run{'s' * (len(unrecorded) != 1)} without a readable {MACHINE_FILE}: the machine is "
            f"{NOT_RECORDED} by the run itself (its host, CPU, cores, threads and package versions unknown from it).",
        ]
        for (sweep, note), with_note in notes.items():
            what = f"what is known of them, from its {MACHINE_NOTE}: {note}" if note else f"no {MACHINE_NOTE} there"
            lines += ["", f"- the {len(with_note)} of {sweep}: {what}"]
    return lines


def write_provenance(path: Path, runs: list, argv: list):
    """provenance.md: the command that made the report, the version of the scripts each run ran, the seeds, and the
    machine of each run."""
    versions, versions_of_script = {}, {}
    for run in runs:
        for version in run_versions(run):
            versions.setdefault(version, []).append(run)
            versions_of_script.setdefault(run.script, set()).add(version)
    several = sorted(LABELS.get(script, script) for script, found in versions_of_script.items() if len(found) > 1)
    groups = {}
    for run in runs:
        groups.setdefault((run.variant, LABELS.get(run.script, run.script), run.env_id), []).append(run.seed)
    lines = [
        "# What these results come from",
        "",
        f"Report: `python benchmark/report.py {' '.join(argv)}`, on {len(runs)} finished runs.",
        "",
        "Scripts (what each run ran, as sweep.py recorded it when it started or resumed the run):",
        "",
        *([f"**More than one version of the {' and the '.join(several)} script made these runs**: compare them "
           "knowingly.", ""] if several else []),
        *(f"- {version}: {len(with_it)} run{'s' * (len(with_it) != 1)}" for version, with_it in versions.items()),
        "",
        "| " + " | ".join(RUN_COLUMNS) + " | seeds |",
        "|---|---|---|---|",
        *(f"| {env} | {variant or '-'} | {script} | {seed_ranges(seeds)} |" for (variant, script, env), seeds in
          sorted(groups.items(), key=lambda item: (item[0][2], item[0][0], item[0][1]))),
        *machine_lines(runs),
    ]  # fmt: skip
    path.write_text("\n".join(lines) + "\n")

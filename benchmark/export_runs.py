"""Export a sweep's finished runs in a compact form to commit, which report.py reads as it reads the sweep:

    python benchmark/export_runs.py SWEEP_DIR OUT_DIR

OUT_DIR is laid out as the sweep (see sweep.py): every task of SWEEP_DIR that is done, and only those, at the same
relative path ({script}/{env_id}/seed{N}/, or {variant}/{script}/{env_id}/seed{N}/ beside the sweep's
variants.json, copied too), holding:

- `done` and `versions.jsonl` (report.py reads both: which run is finished, and what each attempt of it ran);
- `log.txt` when under 1 MB (the evaluation lines, and each attempt's command line);
- runs/RUN_NAME/ with one TensorBoard event file: every scalar of the run (every tag, step and value, with its
  wall time) as TensorBoard reads the run's event files: in file order, what a killed run logged after its last
  checkpoint purged by its resumed run (purge_step). A step logged twice in a tag is kept once, its last value,
  and said so (report.py would read both). Beside it the run's machine.json, when it has one (the scripts write
  it: the machine of each start of the run's process, which report.py lists in provenance.md).

Left out: checkpoints, the saved model, histograms and text (the hyperparameters table: log.txt's first line of
each attempt holds its command), the lock files. The report reads the `failed` and `stopped` markers of the tasks
it leaves out, but those are not exported: a report on the export lists only finished runs.

Prints a line per task: exported, unchanged (exported already, identically: scalars, wall times and files; the
export is left as it is) or skipped (not done: failed, stopped, running or not started). A task exported before
and changed since is exported again, written beside the old export and swapped in whole. Exit code 1 when a done
task's run has no event files, or when there is no task at all, else 0.
"""

import argparse
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboardX import SummaryWriter

sys.path.insert(0, str(Path(__file__).parent))
from report_runs import MACHINE_FILE, UNFINISHED, VERSIONS_FILE, variants_file  # noqa: E402

LOG_FILE, LOG_LIMIT = "log.txt", 1_000_000  # bytes: a longer log is not exported
TASK_NAME = re.compile(r"seed\d+")
NOT_KEPT = {kind: 1 for kind in ("histograms", "distributions", "tensors", "images", "audio")}  # read, not kept


def task_dirs(sweep: Path) -> list:
    """Every task directory of a sweep (OUT/[{variant}/]{script}/{env_id}/seed{N}/), done or not."""
    return sorted(path for path in sweep.rglob("seed*") if TASK_NAME.fullmatch(path.name) and path.is_dir())


def read_scalars(run_dir: Path) -> tuple:
    """Every scalar of a run as TensorBoard reads its event files: {tag: [(step, wall_time, value), ...]}, a step
    once per tag (its last value); and what was not kept: {"histograms": [tag, ...], ...,
    "steps logged twice": ["TAG (N)", ...]}."""
    events = EventAccumulator(str(run_dir), size_guidance={**NOT_KEPT, "scalars": 0})
    events.Reload()
    scalars, left_out = {}, {}
    for kind, tags in events.Tags().items():
        if kind in ("scalars", "distributions"):  # distributions: the histograms, compressed
            continue
        if tags and isinstance(tags, list):  # the other kinds; "graph", "meta_graph": whether there is one
            left_out[kind] = tags
        elif tags is True:
            left_out[kind] = ["yes"]
    for tag in events.Tags()["scalars"]:
        logged = [(e.step, e.wall_time, e.value) for e in events.Scalars(tag)]
        last = {}
        for event in logged:
            last[event[0]] = event  # a step logged again replaces its value, where the step first stood
        scalars[tag] = list(last.values())
        if len(last) < len(logged):
            left_out.setdefault("steps logged twice", []).append(f"{tag} ({len(logged) - len(last)})")
    return scalars, left_out


def same_scalars(a: dict, b: dict) -> bool:
    """Equal tags, steps, wall times and values (a NaN equal to a NaN)."""

    def key(scalars):
        return {tag: [(s, w, "nan" if math.isnan(v) else v) for s, w, v in events] for tag, events in scalars.items()}

    return key(a) == key(b)


def write_scalars(run_dir: Path, scalars: dict) -> None:
    """One event file in run_dir with these scalars, tag by tag (each tag's events in their order)."""
    writer = SummaryWriter(str(run_dir), max_queue=10_000, flush_secs=3600)
    for tag, events in scalars.items():
        for step, wall_time, value in events:
            writer.add_scalar(tag, value, step, walltime=wall_time)
    writer.close()


def task_files(task_dir: Path) -> dict:
    """{name: bytes} of the task's files an export holds: done, versions.jsonl, log.txt if small enough."""
    files = {name: (task_dir / name).read_bytes() for name in ("done", VERSIONS_FILE) if (task_dir / name).exists()}
    log = task_dir / LOG_FILE
    if log.exists() and log.stat().st_size < LOG_LIMIT:
        files[LOG_FILE] = log.read_bytes()
    return files


def run_files(run_dir: Path) -> dict:
    """{name: bytes} of the run directory's files an export holds beside its event file: machine.json, if any."""
    return {name: (run_dir / name).read_bytes() for name in (MACHINE_FILE,) if (run_dir / name).exists()}


def same_files(directory: Path, files: dict, others: int) -> bool:
    """Whether the directory holds exactly these files ({name: bytes}) and `others` other entries."""
    names = {p.name for p in directory.iterdir()}
    if not names >= set(files) or len(names) != len(files) + others:
        return False
    return all((directory / name).read_bytes() == content for name, content in files.items())


def exported_already(out_task: Path, run_name: str, files: dict, in_run: dict, scalars: dict) -> bool:
    """Whether out_task holds exactly this export: these files (the task's `files`, and `in_run` in its run
    directory), and one event file with these scalars."""
    run_dir = out_task / "runs" / run_name
    if not run_dir.is_dir() or [p.name for p in (out_task / "runs").iterdir()] != [run_name]:
        return False
    if not same_files(out_task, files, 1) or not same_files(run_dir, in_run, 1):  # 1: runs/, the event file
        return False
    return same_scalars(read_scalars(run_dir)[0], scalars)


def write_task(out_task: Path, run_name: str, files: dict, in_run: dict, scalars: dict) -> None:
    """The task's export, written beside out_task and then swapped in, its `done` last: never half an export in its
    place, and no `done` outside it (report.py takes every directory with a `done` for a task), however this
    process ends; what an interrupted export left beside it is removed."""
    for left in out_task.parent.glob(f".{out_task.name}.*-*"):
        shutil.rmtree(left)
    new, old = (out_task.with_name(f".{out_task.name}.{what}-{os.getpid()}") for what in ("new", "old"))
    (new / "runs" / run_name).mkdir(parents=True)
    for name, content in files.items():
        if name != "done":
            (new / name).write_bytes(content)
    for name, content in in_run.items():
        (new / "runs" / run_name / name).write_bytes(content)
    write_scalars(new / "runs" / run_name, scalars)
    if out_task.exists():
        (out_task / "done").unlink(missing_ok=True)
        out_task.rename(old)
    new.rename(out_task)
    (out_task / "done").write_bytes(files["done"])
    shutil.rmtree(old, ignore_errors=True)


def not_done(task_dir: Path) -> str:
    """Why a task is not exported: its marker's first line, or that it has none."""
    for name in UNFINISHED:
        if (task_dir / name).exists():
            return f"{name}: {next(iter((task_dir / name).read_text().splitlines()), '')}"
    return "not done: running, or not started"


def export_task(task_dir: Path, out_task: Path) -> tuple:
    """Export one done task; (what became of it, its line's details, whether it failed)."""
    run_name = (task_dir / "done").read_text().strip()
    run_dir = task_dir / "runs" / run_name
    if not run_dir.is_dir() or not any(run_dir.glob("*tfevents*")):
        return "ERROR", f"done, but {run_dir} has no event files", True
    scalars, left_out = read_scalars(run_dir)
    files, in_run = task_files(task_dir), run_files(run_dir)
    details = f"{len(scalars)} tags, {sum(map(len, scalars.values()))} scalars"
    if LOG_FILE not in files and (task_dir / LOG_FILE).exists():
        details += f"; {LOG_FILE} not copied ({(task_dir / LOG_FILE).stat().st_size / 1e6:.1f} MB)"
    if left_out:
        details += "; left out: " + "; ".join(f"{kind} {', '.join(tags)}" for kind, tags in left_out.items())
    if exported_already(out_task, run_name, files, in_run, scalars):
        return "unchanged", details, False
    write_task(out_task, run_name, files, in_run, scalars)
    return "exported", details, False


def copy_variants(sweep: Path, out: Path, task_dir: Path) -> str | None:
    """Copy the variants.json of a task's sweep, when it has one and the export's differs; its relative path."""
    source = variants_file(task_dir)
    if source is None:
        return None
    target = out / source.relative_to(sweep)
    if target.exists() and target.read_bytes() == source.read_bytes():
        return None
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return str(source.relative_to(sweep))


def ignored_by_git(path: Path) -> bool:
    """Whether git ignores this path (False outside a git checkout, or without git)."""
    try:
        check = ["git", "-C", str(path.parent), "check-ignore", "-q", str(path)]
        return subprocess.run(check, capture_output=True).returncode == 0
    except OSError:
        return False


def export(sweep: Path, out: Path) -> int:
    tasks = task_dirs(sweep)
    if not tasks:
        print(f"error: no task directories (seed{{N}}/) under {sweep}")
        return 1
    errors, exported = 0, []
    for task_dir in tasks:
        relative = task_dir.relative_to(sweep)
        if not (task_dir / "done").exists():
            print(f"skipped: {relative} ({not_done(task_dir)})")
            continue
        outcome, details, error = export_task(task_dir, out / relative)
        errors += error
        print(f"{outcome}: {relative} ({details})", flush=True)
        if not error:
            exported.append(out / relative)
            if copied := copy_variants(sweep, out, task_dir):
                print(f"copied: {copied}")
    if exported and ignored_by_git(run := next((exported[0] / "runs").iterdir())):
        print(f"note: git ignores {run} (git check-ignore -v says why): commit the export with git add -f")
    return 1 if errors else 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sweep", type=Path, help="the sweep's directory (sweep.py --out)")
    parser.add_argument("out", type=Path, help="where the export goes, laid out as the sweep")
    args = parser.parse_args(argv)
    sweep, out = args.sweep.resolve(), args.out.resolve()
    if out == sweep or sweep in out.parents or out in sweep.parents:
        parser.error("give an OUT_DIR outside SWEEP_DIR, and not above it")
    return export(sweep, out)


if __name__ == "__main__":
    sys.exit(main())

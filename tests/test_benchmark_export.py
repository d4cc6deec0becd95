"""benchmark/export_runs.py on a sweep written here (tests/test_benchmark_report.py's fake runs, one of them
resumed): the done tasks only, every scalar once as TensorBoard reads it, no histograms or text, and report.py's
numbers the same on the export as on the sweep."""

import contextlib
import io
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboardX import SummaryWriter

from tests.conftest import ROOT, read_scalars
from tests.test_benchmark_report import JAX, TORCH, write_run, write_sweep, write_variant_sweep

sys.path.insert(0, str(ROOT / "benchmark"))
import export_runs  # noqa: E402
import report_runs  # noqa: E402

ENV = "Fake-v0"
RESUMED = Path(TORCH) / ENV / "seed1"  # killed after logging step 1000, resumed from its checkpoint at step 700
NOT_DONE = {"seed3": "failed", "seed4": "stopped", "seed5": None}  # None: no marker (running, or killed)
WALL = 1.5e9  # the resumed run's events' wall time: WALL + step


def run_dir(task_dir: Path) -> Path:
    return task_dir / "runs" / (task_dir / "done").read_text().strip()


def resume(task_dir: Path):
    """A second event file in the task's run, as the scripts write when they resume from a checkpoint at step 700:
    purge_step 701 hides what the first file logged from step 701 on (training episodes 800-1000, the evaluation
    at 1000); the resumed run logs episodes ending at 900-1200 (returns step / 10 + 100: none at 800 this time),
    evaluations at 1000 and 1200, a histogram and the hyperparameters' text."""
    writer = SummaryWriter(str(run_dir(task_dir)), purge_step=701, filename_suffix=".resumed")
    writer.add_text("hyperparameters", "|param|value|\n|-|-|\n|seed|1|", 0)
    for step in range(900, 1201, 100):
        writer.add_scalar("charts/episodic_return", step / 10 + 100, step, walltime=WALL + step)
        writer.add_histogram("diagnostics/probe_actions", np.linspace(-1, 1, 50), step, walltime=WALL + step)
    writer.add_scalar("eval/episodic_return", 70.0, 1000, walltime=WALL + 1000)
    writer.add_scalar("eval/episodic_return", 90.0, 1200, walltime=WALL + 1200)
    writer.close()


def write_test_sweep(sweep: Path) -> Path:
    """Two done tasks per script (one resumed, with versions.jsonl and log.txt), and three of PyTorch not done."""
    write_sweep(sweep, {(TORCH, ENV): [1.0, 2.0, 0.0, 0.0, 0.0], (JAX, ENV): [3.0, 4.0]})
    resume(sweep / RESUMED)
    version = {"script": f"{TORCH}.py", "sha256": "ab", "commit": "c0ffee", "modified": False}
    (sweep / RESUMED / "versions.jsonl").write_text(json.dumps(version) + "\n" + json.dumps(version) + "\n")
    (sweep / RESUMED / "log.txt").write_text("step 1200: eval episodic returns [90.0]; mean 90.0\n")
    for seed, marker in NOT_DONE.items():
        (sweep / TORCH / ENV / seed / "done").unlink()
        if marker:
            (sweep / TORCH / ENV / seed / marker).write_text(f"exit code 75: {marker}\n")
    return sweep


def export(sweep: Path, out: Path) -> list:
    """export_runs.main's printed lines; it must succeed."""
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        assert export_runs.main([str(sweep), str(out)]) == 0
    return printed.getvalue().splitlines()


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple:
    root = tmp_path_factory.mktemp("export")
    sweep = write_test_sweep(root / "sweep")
    return sweep, root / "export", export(sweep, root / "export")


def test_only_done_tasks_are_exported_with_their_files(exported):
    sweep, out, printed = exported
    tasks = sorted(str(done.parent.relative_to(out)) for done in out.rglob("done"))
    assert tasks == [f"{script}/{ENV}/seed{seed}" for script in (TORCH, JAX) for seed in (1, 2)]
    assert sorted(p.name for p in out.rglob("seed*")) == ["seed1", "seed1", "seed2", "seed2"]
    for seed, marker in NOT_DONE.items():
        reason = f"{marker}: exit code 75: {marker}" if marker else "not done: running, or not started"
        assert f"skipped: {TORCH}/{ENV}/{seed} ({reason})" in printed
    assert sum(line.startswith("exported: ") for line in printed) == 4
    assert sorted(p.name for p in (out / RESUMED).iterdir()) == ["done", "log.txt", "runs", "versions.jsonl"]
    for name in ("done", "log.txt", "versions.jsonl"):
        assert (out / RESUMED / name).read_bytes() == (sweep / RESUMED / name).read_bytes()


def test_every_scalar_survives_once_with_its_wall_time_and_histograms_and_text_are_dropped(exported):
    sweep, out, printed = exported
    original, export_dir = run_dir(sweep / RESUMED), run_dir(out / RESUMED)
    assert len(list(original.glob("events.out.tfevents*"))) == 2 and len(list(export_dir.iterdir())) == 1
    episodes = [(s, s / 10 + 1) for s in range(100, 701, 100)] + [(s, s / 10 + 100) for s in range(900, 1201, 100)]
    expected = {"charts/episodic_return": episodes, "eval/episodic_return": [(500, -5.0), (1000, 70.0), (1200, 90.0)]}
    assert read_scalars(export_dir) == read_scalars(original) == expected
    scalars, _ = export_runs.read_scalars(export_dir)
    resumed = [wall for step, wall, _ in scalars["charts/episodic_return"] if step > 700]
    assert resumed == [WALL + step for step in range(900, 1201, 100)]
    assert export_runs.same_scalars(scalars, export_runs.read_scalars(original)[0])
    events = EventAccumulator(str(export_dir), size_guidance={"histograms": 0, "tensors": 0})
    events.Reload()
    assert {kind: tags for kind, tags in events.Tags().items() if tags} == {"scalars": list(expected)}
    line = next(line for line in printed if line.startswith(f"exported: {RESUMED} "))
    assert "histograms diagnostics/probe_actions" in line and "tensors hyperparameters/text_summary" in line
    assert "logged twice" not in line


def test_the_report_reads_the_same_runs_and_returns_from_the_export(exported):
    sweep, out, _ = exported
    runs, export_runs_ = report_runs.find_runs(sweep), report_runs.find_runs(out)
    assert [run[:4] for run in runs] == [run[:4] for run in export_runs_] and len(runs) == 4
    for run, copy in zip(runs, export_runs_):
        original, exported_ = report_runs.read_run(run.run_dir), report_runs.read_run(copy.run_dir)
        assert original.keys() == exported_.keys() == {"train", "eval"}
        for protocol in original:
            np.testing.assert_array_equal(original[protocol], exported_[protocol])
        assert report_runs.run_versions(run) == report_runs.run_versions(copy)
    rows, left_out = report_runs.final_returns(runs)
    export_rows, export_left_out = report_runs.final_returns(export_runs_)
    assert [{**r, "run_dir": ""} for r in rows] == [{**r, "run_dir": ""} for r in export_rows] and len(rows) == 8
    assert left_out == export_left_out == []
    resumed_eval = next(r for r in rows if (r["script"], r["seed"], r["protocol"]) == ("PyTorch", 1, "eval"))
    assert resumed_eval["final_return"] == 90.0 and resumed_eval["steps"] == 1200


def test_exporting_again_leaves_an_identical_export_and_redoes_a_changed_task(tmp_path):
    sweep = write_test_sweep(tmp_path / "sweep")
    export(sweep, tmp_path / "export")
    files = {p: p.stat().st_mtime_ns for p in (tmp_path / "export").rglob("*") if p.is_file()}
    printed = export(sweep, tmp_path / "export")
    assert [line.split(":")[0] for line in printed if not line.startswith("skipped")] == ["unchanged"] * 4
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "export").rglob("*") if p.is_file()} == files
    with open(sweep / RESUMED / "versions.jsonl", "a") as versions:
        versions.write("{}\n")
    shutil.rmtree(run_dir(sweep / JAX / ENV / "seed2"))
    write_run(sweep, JAX, ENV, 2, 5.0)  # seed 2 run again: another final evaluation
    printed = export(sweep, tmp_path / "export")
    assert [line.split(" (")[0] for line in printed if not line.startswith("skipped")] == [
        f"exported: {RESUMED}", f"unchanged: {TORCH}/{ENV}/seed2", f"unchanged: {JAX}/{ENV}/seed1",
        f"exported: {JAX}/{ENV}/seed2",
    ]
    assert (tmp_path / "export" / RESUMED / "versions.jsonl").read_text().endswith("{}\n")
    (copy,) = [run for run in report_runs.find_runs(tmp_path / "export") if (run.script, run.seed) == (JAX, 2)]
    assert report_runs.read_run(copy.run_dir)["eval"][1].tolist() == [-5.0, 5.0]
    assert not list((tmp_path / "export").rglob(".seed*"))  # no half-written export left behind


def test_a_runs_machine_json_is_copied_beside_its_event_file_and_exported_again_when_it_changes(tmp_path):
    """machine.json (the scripts' record of each start's machine) goes into the export's run directory, as the report
    reads it there; a task without one exports none; a start added since (a resumed run) exports the task again."""
    sweep = write_test_sweep(tmp_path / "sweep")
    source = run_dir(sweep / JAX / ENV / "seed1") / report_runs.MACHINE_FILE
    source.write_text(json.dumps({"starts": [{"start_step": 0, "host": "vm"}]}))
    export(sweep, tmp_path / "export")
    copy = run_dir(tmp_path / "export" / JAX / ENV / "seed1")
    assert sorted(p.name.split(".")[0] for p in copy.iterdir()) == ["events", "machine"]
    assert (copy / "machine.json").read_bytes() == source.read_bytes()
    assert not (run_dir(tmp_path / "export" / RESUMED) / "machine.json").exists()
    (exported,) = [run for run in report_runs.find_runs(tmp_path / "export") if (run.script, run.seed) == (JAX, 1)]
    assert report_runs.run_machines(exported) == ([{"start_step": 0, "host": "vm"}], "")
    printed = export(sweep, tmp_path / "export")
    assert [line.split(":")[0] for line in printed if not line.startswith("skipped")] == ["unchanged"] * 4
    source.write_text(json.dumps({"starts": [{"start_step": 0, "host": "vm"}, {"start_step": 700, "host": "b"}]}))
    printed = export(sweep, tmp_path / "export")
    assert [line.split(" (")[0] for line in printed if line.startswith("exported")] == [f"exported: {JAX}/{ENV}/seed1"]
    assert (copy / "machine.json").read_bytes() == source.read_bytes()


def test_a_step_logged_twice_is_kept_once_with_its_last_value_and_said(tmp_path):
    sweep = tmp_path / "sweep"
    write_sweep(sweep, {(JAX, ENV): [3.0]})
    task_dir = sweep / JAX / ENV / "seed1"
    writer = SummaryWriter(str(run_dir(task_dir)), filename_suffix=".again")
    writer.add_scalar("eval/episodic_return", 8.0, 1000)  # no purge_step: TensorBoard keeps both
    writer.close()
    assert read_scalars(run_dir(task_dir))["eval/episodic_return"] == [(500, -5.0), (1000, 3.0), (1000, 8.0)]
    printed = export(sweep, tmp_path / "export")
    assert "steps logged twice eval/episodic_return (1)" in printed[0]
    assert read_scalars(run_dir(tmp_path / "export" / JAX / ENV / "seed1"))["eval/episodic_return"] == [
        (500, -5.0), (1000, 8.0)
    ]


def test_a_sweep_of_variants_is_exported_with_its_variants_file(tmp_path):
    sweep = Path(write_variant_sweep(tmp_path / "sweep", {("ou", TORCH, ENV): [1.0], ("gaussian", JAX, ENV): [2.0]}))
    printed = export(sweep, tmp_path / "export")
    assert "copied: variants.json" in printed
    assert (tmp_path / "export" / "variants.json").read_bytes() == (sweep / "variants.json").read_bytes()
    runs, copies = report_runs.find_runs(sweep), report_runs.find_runs(tmp_path / "export")
    assert [run[:4] for run in copies] == [run[:4] for run in runs]
    assert [run[:4] for run in runs] == [("gaussian", JAX, ENV, 1), ("ou", TORCH, ENV, 1)]
    assert report_runs.variant_names(copies) == report_runs.variant_names(runs) == ["ou", "gaussian"]

"""The runs of a sweep, for benchmark/report.py: the finished runs and the tasks left out, each run's TensorBoard
returns, its final return under each protocol (train: the training episodes of the last 10% of steps; eval: the
last deterministic evaluation), the mean of its last 100 training episodes (the published statistic of CleanRL's
table, openrlbenchmark's), and the versions of the scripts and the machine it ran."""

import json
import math
from pathlib import Path
from typing import NamedTuple

import numpy as np
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

LABELS = {"ddpg_continuous_action": "PyTorch", "ddpg_continuous_action_jax": "JAX"}
PROTOCOLS = {"train": "charts/episodic_return", "eval": "eval/episodic_return"}
FINAL_SHARE = 0.1  # the train protocol averages the episodes of the last 10% of steps
LAST_EPISODES = 100  # openrlbenchmark's window, CleanRL's table's: the mean of a run's last 100 training episodes
LAST_EPISODES_KEY = "last_100_episodes"  # a train row's mean of its last LAST_EPISODES episodes, in runs.csv
VERSIONS_FILE = "versions.jsonl"  # in a task directory: what each attempt of its run ran (sweep.py writes it)
MACHINE_FILE = "machine.json"  # in a run directory: {"starts": [...]}, the machine of each start (the scripts write it)
MACHINE_NOTE = "machine_note.txt"  # in a sweep directory: what is known of the machine of its runs without one
VARIANTS_FILE = "variants.json"  # in a sweep with variants: {"variants": [{"name": ..., "args": [...]}, ...]}
UNFINISHED = ("failed", "stopped")  # the markers of the tasks a report leaves out, their text the reason


def read_run(run_dir: Path) -> dict:
    """{protocol: (steps, returns)} of one run, from its event files."""
    events = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    events.Reload()
    tags = events.Tags()["scalars"]
    return {
        protocol: (np.array([e.step for e in events.Scalars(tag)]), np.array([e.value for e in events.Scalars(tag)]))
        for protocol, tag in PROTOCOLS.items()
        if tag in tags
    }


class Run(NamedTuple):
    """A finished run: its task directory OUT/[{variant}/]{script}/{env_id}/seed{N}/ and its run directory."""

    variant: str  # "" in a sweep without variants
    script: str
    env_id: str
    seed: int
    task_dir: Path
    run_dir: Path


def variants_file(task_dir: Path) -> Path | None:
    """The variants.json of a task's sweep when the sweep has variants (OUT/{variant}/{script}/{env}/seed{N}/),
    else None. Per task, as a report may be given a directory that holds several sweeps."""
    if len(task_dir.parents) > 3 and (task_dir.parents[3] / VARIANTS_FILE).exists():
        return task_dir.parents[3] / VARIANTS_FILE
    return None


def find_runs(sweep: Path) -> list:
    """The Run of every finished task (a task directory with a `done` marker naming its run directory)."""
    runs = []
    for done in sorted(sweep.rglob("done")):
        task_dir = done.parent
        variant = task_dir.parents[2].name if variants_file(task_dir) else ""
        seed = int(task_dir.name[len("seed") :])
        run_dir = task_dir / "runs" / done.read_text().strip()
        runs.append(Run(variant, task_dir.parent.parent.name, task_dir.parent.name, seed, task_dir, run_dir))
    return runs


def unfinished_tasks(sweep: Path) -> list:
    """{"task", "reason"} of every task that failed or stopped, the reason the marker's text, its lines joined
    (sweep.py writes the exit code and, for a run that diverged, the script's error line; then where the log is)."""
    return [
        {"task": str(marker.parent), "reason": f"{name}: {'; '.join(marker.read_text().strip().splitlines())}"}
        for name in UNFINISHED
        for marker in sorted(sweep.rglob(name))
    ]


def sweep_dir(task_dir: Path) -> Path:
    """The sweep directory of a task: OUT of OUT/[{variant}/]{script}/{env_id}/seed{N}/."""
    return task_dir.parents[3] if variants_file(task_dir) else task_dir.parents[2]


def variant_names(runs: list) -> list:
    """The variants of these runs, in the order of their sweeps' variants.json (the first one's first variant is
    the default baseline), then any other variant met."""
    files = sorted({variants_file(run.task_dir) for run in runs if run.variant})
    listed = [variant["name"] for file in files for variant in json.loads(file.read_text())["variants"]]
    return list(dict.fromkeys([*listed, *(run.variant for run in runs if run.variant)]))


def final_return(protocol: str, steps: np.ndarray, returns: np.ndarray, total_steps: int) -> float:
    if protocol == "eval":
        return float(returns[np.argmax(steps)])
    late = steps >= (1 - FINAL_SHARE) * total_steps
    return float(returns[late].mean() if late.any() else returns[np.argmax(steps)])


def last_episodes_mean(steps: np.ndarray, returns: np.ndarray, episodes: int = LAST_EPISODES) -> float:
    """The mean return of a run's last `episodes` training episodes, in the order they ended (all of them when it
    has fewer): the per-run statistic of openrlbenchmark, which CleanRL's results table reports."""
    order = np.argsort(steps, kind="stable")  # episodes that end at one step stay in the order they were logged
    return float(returns[order][-episodes:].mean())


def final_returns(runs: list, variants: list = ()) -> tuple:
    """One row per run and protocol: its final return (the raw data behind the table; a train row also has the
    mean of the run's last 100 training episodes, LAST_EPISODES_KEY), ordered by env, variant (in `variants`
    order), script and seed; and {"task", "reason"} of each run and protocol left out because its final return is
    not finite (a NaN is never averaged)."""
    rows, left_out = [], []
    groups = sorted({(run.env_id, run.variant, run.script) for run in runs}, key=lambda g: group_rank(g, variants))
    for env_id, variant, script in groups:
        group = [(run, read_run(run.run_dir)) for run in runs if run[:3] == (variant, script, env_id)]
        total_steps = max(int(steps.max()) for _, data in group for steps, _ in data.values())
        for protocol in PROTOCOLS:
            for run, data in sorted(group, key=lambda item: item[0].seed):
                if protocol not in data:
                    continue
                final = final_return(protocol, *data[protocol], total_steps)
                if not math.isfinite(final):
                    reason = f"final {protocol} return is {final}, not finite"
                    left_out.append({"task": str(run.task_dir), "reason": reason})
                    continue
                label = LABELS.get(script, script)
                row = {"env_id": env_id, "variant": variant, "script": label, "protocol": protocol, "seed": run.seed}
                last = {LAST_EPISODES_KEY: last_episodes_mean(*data[protocol])} if protocol == "train" else {}
                rows.append({**row, "steps": total_steps, "final_return": final, **last, "run_dir": str(run.run_dir)})
    return rows, left_out


def group_rank(group: tuple, variants) -> tuple:
    """The order of (env_id, variant, script) groups: variants in their sweep's order (none first)."""
    env_id, variant, script = group
    return env_id, list(variants).index(variant) if variant in variants else -1, variant, script


def has_variants(rows: list) -> bool:
    return any(r["variant"] for r in rows)


def run_versions(run: Run) -> list:
    """The versions of the script that a run ran, one per attempt (a resumed run has several): from its task's
    versions.jsonl, or ["unknown"] for a task that sweep.py ran before it recorded them."""
    path = run.task_dir / VERSIONS_FILE
    attempts = [json.loads(line) for line in path.read_text().splitlines() if line] if path.exists() else []
    if not attempts:
        return ["unknown (no versions.jsonl: the sweep predates it)"]
    return list(dict.fromkeys(version_text(attempt) for attempt in attempts))


def version_text(attempt: dict) -> str:
    where = f"at commit {attempt['commit']}" if attempt["commit"] else "outside git"
    changed = " with uncommitted changes" if attempt["modified"] else ""
    return f"{attempt['script']} {where}{changed} (file sha256 {attempt['sha256']})"


def run_machines(run: Run) -> tuple:
    """The machine of each start of a run's process, from its machine.json ([] without one), and why it has none
    or cannot be read ("" when it has one)."""
    path = run.run_dir / MACHINE_FILE
    if not path.exists():
        return [], f"no {MACHINE_FILE}"
    try:
        starts = json.loads(path.read_text())["starts"]
    except (ValueError, KeyError, TypeError) as error:
        return [], f"{MACHINE_FILE} unreadable ({type(error).__name__}: {error})"
    return starts, ""


def machine_note(run: Run) -> str:
    """What its sweep's machine_note.txt says of the machine of runs without a machine.json, or ""."""
    path = sweep_dir(run.task_dir) / MACHINE_NOTE
    return " ".join(path.read_text().split()) if path.exists() else ""

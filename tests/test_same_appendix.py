"""The two scripts' run machinery cannot drift apart: each script ends with an appendix (after the line that starts
with BANNER) of functions and constants that are copies of the other script's, so that each script stands alone.
This test reads both scripts as text (nothing is imported: it runs in milliseconds) and compares the appendices
name by name: the same names in the same order, and each function and constant the same line for line, once

- SPELLINGS: the few things the two scripts spell in their own framework's way (the checkpoint's file name, the
  script's name, the framework's name) read as one spelling, and RENAMES: the PyTorch script's name for something
  that the JAX script names otherwise, read as the JAX name;
- ALLOWED: the framework-specific lines of a function, listed per function and per script, are left out.

Everything else must be identical, comments and indentation included; a failure names the function and shows the
differing lines of each script with their line numbers.

When a framework-specific line changes on purpose, replace its old text in ALLOWED[function] by the new one (the
failure shows it; copy the line from the script, leading and trailing spaces dropped). A line of ALLOWED that is
no longer in its function fails test_every_allowed_line_is_in_its_function, so the table cannot go stale.
A difference that is not framework-specific is not listed in ALLOWED: make the two copies agree.
"""

import ast
import difflib
import re
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = {"pytorch": ROOT / "ddpg_continuous_action.py", "jax": ROOT / "ddpg_continuous_action_jax.py"}
BANNER = "# ---- Appendix: run machinery"

# One thing, a spelling in each script: (the PyTorch script's, the JAX script's). In each script its own spelling
# reads as "own ..." and the other script's as "other ...", so "this script's checkpoint.pt" in one matches "this
# script's checkpoint.npz" in the other, and "resume it with ddpg_continuous_action_jax.py" matches "... .py".
SPELLINGS = (
    ("checkpoint.pt", "checkpoint.npz"),  # the checkpoint's file: torch.save's zip archive, np.savez's
    ("ddpg_continuous_action.py", "ddpg_continuous_action_jax.py"),  # the script, named in messages
    ("PyTorch", "JAX"),  # the framework, named in messages
    ('"pytorch"', '"jax"'),  # the framework, as a checkpoint records it
    ('.pt"', '.msgpack"'),  # a saved model's suffix (--save-model, --load-model): torch.save's, flax's msgpack
)
# One thing, two names: the PyTorch script's name (a whole word) reads as the JAX script's. Only names that never
# mean anything else in the PyTorch appendix belong here.
RENAMES = {
    "nets": "state",  # the networks and optimisers: a dict of nn.Modules and optimisers, a pytree of their arrays
}

# The framework-specific lines of each function, per script, as the script has them (leading and trailing spaces
# dropped). Only lines that differ because the framework differs belong here; a line listed is left out wherever it
# occurs in that function.
ALLOWED = {
    # tensorboardX (JAX) logs a warning for every non-finite value; torch's SummaryWriter does not
    "open_run": {
        "pytorch": [],
        "jax": [
            "# tensorboardX warns at every non-finite value it logs; a run that diverges stops with one line instead",
            'logging.getLogger("tensorboardX.x2num").setLevel(logging.ERROR)',
        ],
    },
    # PyTorch passes the losses as tensors and takes the means here; JAX's compiled update returns the means
    "log_losses": {
        "pytorch": [
            "def log_losses(run: dict, step: int, policy_frequency: int, qf1_loss, qf1_a_values, td_target, "
            "actor_loss):",
            '"""Every 100 steps: the losses, Q(s, a) and the TD target (the only host syncs of the update); a run '
            "whose",
            'values are no longer finite stops there."""',
            'values["losses/actor_loss"] = actor_loss.item()',
            'values["losses/qf1_loss"] = qf1_loss.item()',
            'values["losses/qf1_values"] = qf1_a_values.mean().item()',
            'values["losses/td_target"] = td_target.mean().item()',
        ],
        "jax": [
            "def log_losses(run: dict, step: int, policy_frequency: int, metrics: dict):",
            '"""Every 100 steps: the losses, Q(s, a) and the TD target (the only host syncs of the update; the means '
            "are",
            "taken inside the compiled update, which returns them as `metrics`); a run whose values are no longer "
            "finite",
            'stops there."""',
            'values["losses/actor_loss"] = float(metrics["actor_loss"])',
            'values |= {f"losses/{name}": float(metrics[name]) for name in ("qf1_loss", "qf1_values", "td_target")}',
        ],
    },
    # the weights' finiteness check (modules' parameters, pytree leaves); the TensorBoard writer: torch's flush
    # writes every event, tensorboardX's flush does not drain its queue, so the JAX script closes and reopens it
    "save_checkpoint_if_due": {
        "pytorch": [
            "weights = (param for net in nets.values() if isinstance(net, nn.Module) for param in net.parameters())",
            "if not all(torch.isfinite(param).all() for param in weights):  # the last checkpoint stays the last good "
            "state",
            'run["writer"].flush()  # every event up to this step is on disk before the checkpoint that resumes '
            "after it",
        ],
        "jax": [
            "if not all(np.isfinite(leaf).all() for leaf in jax.tree_util.tree_leaves(state)):  # keep the last good "
            "state",
            "# every event up to this step on disk before the checkpoint that resumes after it: tensorboardX's flush "
            "leaves",
            "# events still queued for its writing thread, its close does not",
            'run["writer"].close()',
            "# the log goes on in a file of its own; TensorBoard reads files in name order, the padded step keeps two "
            "files",
            "# opened within one second in order",
            'run["writer"] = SummaryWriter(run["dir"], filename_suffix=f".{step:012d}")',
        ],
    },
    # the actor's weights to keep: a module's state_dict, Flax params flattened to arrays by name
    "defer_evaluation": {
        "pytorch": [
            "def defer_evaluation(run: dict, step: int, args: Args, actor: Actor) -> bool:",
            "actor_state = {name: tensor.detach().cpu().clone() for name, tensor in actor.state_dict().items()}",
            "statistics = {key: torch.tensor(value, dtype=torch.float64)  # as now; the count too (float32: exact to "
            "2^24)",
            'for key, value in statistics_state(run["obs_rms"]).items()}  # fmt: skip',
        ],
        "jax": [
            "def defer_evaluation(run: dict, step: int, args: Args, actor_params) -> bool:",
            'actor_state = flax.traverse_util.flatten_dict(jax.tree_util.tree_map(np.asarray, actor_params), sep="/")',
            'statistics = {key: np.array(value) for key, value in statistics_state(run["obs_rms"]).items()}  # as now',
        ],
    },
    # the kept actor back: a module copy loading a state_dict (evaluated on a device), the apply function on params
    "evaluate_deferred": {
        "pytorch": [
            "def evaluate_deferred(run: dict, step: int, args: Args, actor: Actor, device):",
            "deferred_actor = copy.deepcopy(actor)",
            'deferred_actor.load_state_dict(deferred["actor"])',
            'run["eval_seed"], device, obs_rms, args.observation_clip))',
        ],
        "jax": [
            "def evaluate_deferred(run: dict, step: int, args: Args, actor_apply):",
            'deferred_actor = partial(actor_apply, flax.traverse_util.unflatten_dict(deferred["actor"], sep="/"))',
            'run["eval_seed"], obs_rms, args.observation_clip))',
        ],
    },
    # the saved model: torch.save of the modules' state_dicts, Flax's msgpack of the params
    "finish_run": {
        "pytorch": [
            "def finish_run(run: dict, args: Args, actor: Actor, qf1: QNetwork):",
            "statistics = {key: torch.tensor(value, dtype=torch.float64)  # the count too (float32: exact to 2^24)",
            'for key, value in statistics_state(run["obs_rms"]).items()}  # fmt: skip',
            'torch.save({"actor": actor.state_dict(), "qf1": qf1.state_dict(), "args": asdict(args), **statistics},',
            'model_path)  # fmt: skip',
        ],
        "jax": [
            "def finish_run(run: dict, args: Args, state: dict):",
            'saved_args = {**asdict(args), "hidden_sizes": list(args.hidden_sizes)}  # msgpack takes lists, not tuples',
            'saved_model = {"actor": state["actor_params"], "qf1": state["qf1_params"], "args": saved_args,',
            '**statistics_state(run["obs_rms"])}  # fmt: skip',
            'with open(model_path, "wb") as f:',
            "f.write(flax.serialization.msgpack_serialize(saved_model))",
        ],
    },
    # the checkpoint's layout: torch.save of one dict of tensors, np.savez of arrays by name beside a JSON "meta"
    "save_checkpoint": {
        "pytorch": [
            "checkpoint = {",
            "**{key: torch.from_numpy(value) if isinstance(value, np.ndarray) else value for key, value in "
            "extra.items()},",
            '"nets": {name: net.state_dict() for name, net in nets.items()},',
            '"buffer": {name: torch.from_numpy(getattr(rb, name)[: rb.size]) for name in BUFFER_FIELDS},',
            "torch.save(checkpoint, f)",
        ],
        "jax": [
            "arrays = {jax.tree_util.keystr(key): np.asarray(leaf) for key, leaf in "
            "jax.tree_util.tree_leaves_with_path(state)}",
            'arrays |= {f"buffer.{name}": getattr(rb, name)[: rb.size] for name in BUFFER_FIELDS}',
            "arrays |= {key: value for key, value in extra.items() if isinstance(value, np.ndarray)}",
            "deferred = extra.get(\"deferred_evaluations\", [])  # the actors' weights among the arrays, their steps "
            "in meta",
            'arrays |= {f"deferred.{i}.{name}": value for i, evaluation in enumerate(deferred)',
            'for name, value in [*evaluation["actor"].items(), *statistics_of(evaluation).items()]}  # fmt: skip',
            "meta = {",
            "**{key: value for key, value in extra.items()",
            'if not isinstance(value, np.ndarray) and key != "deferred_evaluations"},',
            '"deferred_evaluation_steps": [evaluation["step"] for evaluation in deferred],',
            "np.savez(f, meta=json.dumps(meta), **arrays)",
        ],
    },
    # reading that layout back: torch.load; np.load and JSON (lists back to tuples, the deferred actors' arrays)
    "load_checkpoint": {
        "pytorch": [
            'checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)',
            "return checked_format(checkpoint, run_dir)",
        ],
        "jax": [
            "arrays = np.load(path)  # lazily: each array is read when it is restored",
            'checkpoint = {**json.loads(str(arrays["meta"])), "arrays": arrays}',
            "checkpoint = checked_format(checkpoint, run_dir)",
            'checkpoint["args"]["hidden_sizes"] = tuple(checkpoint["args"]["hidden_sizes"])',
            'checkpoint["deferred_evaluations"] = []',
            'for i, step in enumerate(checkpoint.pop("deferred_evaluation_steps", [])):  # the actor, then its '
            'statistics',
            'saved = {name.split(".", 2)[2]: arrays[name] for name in arrays.files if '
            'name.startswith(f"deferred.{i}.")}',
            'actor_state = {name: value for name, value in saved.items() if not name.startswith("obs_")}',
            'checkpoint["deferred_evaluations"].append({"step": step, "actor": actor_state, **statistics_of(saved)})',
            'checkpoint |= {key: arrays[key] for key in ("obs_mean", "obs_var") if key in arrays.files}',
            "return checkpoint",
        ],
    },
    # the device: torch's choice by --cuda, JAX's default backend
    "device_name": {
        "pytorch": ['return "cuda" if torch.cuda.is_available() and args.cuda else "cpu"'],
        "jax": ["return jax.default_backend()  # JAX runs where it is installed for: cpu, gpu or tpu"],
    },
    # the threads and versions a run records: torch's thread pools, XLA's (set only through XLA_FLAGS)
    "framework_threads": {
        "pytorch": [
            '"""The threads PyTorch computes with on the CPU, as it set them (OMP_NUM_THREADS, or one per core)."""',
            'return {"torch": torch.get_num_threads(), "torch_interop": torch.get_num_interop_threads()}',
        ],
        "jax": [
            '"""The threads XLA computes with on the CPU: XLA_FLAGS\' intra_op_parallelism_threads, or by default one '
            "per",
            'core this process may use (XLA reads no OMP_NUM_THREADS)."""',
            'given = re.search(r"intra_op_parallelism_threads=(\\d+)", os.environ.get("XLA_FLAGS", ""))',
            'return {"xla_intra_op": int(given.group(1)) if given else len(usable_cores())}',
        ],
    },
    "framework_versions": {
        "pytorch": ['return {"torch": torch.__version__}'],
        "jax": ['return {name: importlib.metadata.version(name) for name in ("jax", "jaxlib", "flax", "optax")}'],
    },
    # the flags that choose only how PyTorch computes; JAX has none
    "DEVICE_FLAGS": {
        "pytorch": [
            "# flags that choose how the framework computes, not what: --cuda (the device it picks is compared "
            "instead, by",
            "# device_warning) and --torch-deterministic (cuDNN's setting: these MLPs never call cuDNN)",
            'DEVICE_FLAGS = ("cuda", "torch_deterministic")',
        ],
        "jax": [
            "# JAX picks its device itself: nothing to compare but the device (device_warning)",
            "DEVICE_FLAGS = ()",
        ],
    },
    # the networks: loaded in place with load_state_dict, or rebuilt as a pytree from the checkpoint's arrays
    "restore_checkpoint": {
        "pytorch": [
            '"""Load a checkpoint\'s networks, optimisers, random-number states and buffer into the run\'s fresh ones; '
            "return",
            "the networks and optimisers (loaded in place) and the rest of what it holds (the loop's own state).\"\"\"",
            "for name, net in nets.items():",
            'net.load_state_dict(checkpoint["nets"][name])',
            'if name in checkpoint["buffer"]:  # formats 1 and 2 have no truncations (n-step 1 never reads them)',
            'stored = checkpoint["buffer"][name].numpy()',
            'rb.pos, rb.size = checkpoint["step"] % rb.capacity, len(checkpoint["buffer"]["obs"])',
            'rest = {key: value for key, value in checkpoint.items() if key not in ("nets", "rngs", "buffer")}',
            "return nets, {key: value.numpy() if isinstance(value, torch.Tensor) else value for key, value in "
            "rest.items()}",
        ],
        "jax": [
            '"""Load a checkpoint\'s random-number states and buffer into the run\'s fresh ones; return the state '
            "(networks and",
            "optimisers) it holds, and the rest of what it holds (the loop's own state).\"\"\"",
            'arrays = checkpoint["arrays"]',
            "keys, treedef = jax.tree_util.tree_flatten_with_path(state)",
            "state = jax.tree_util.tree_unflatten(treedef, [jnp.asarray(arrays[jax.tree_util.keystr(key)]) for key, _ "
            "in keys])",
            'if f"buffer.{name}" in arrays.files:  # formats 1 and 2 have no truncations (n-step 1 never reads them)',
            'stored = arrays[f"buffer.{name}"]',
            'rb.pos, rb.size = checkpoint["step"] % rb.capacity, len(arrays["buffer.obs"])',
            'loop_state = {key: value for key, value in checkpoint.items() if key not in ("arrays", "rngs")}',
            'loop_state |= {key: arrays[key] for key in ("probe_obs", "probe_actions") if key in arrays.files}',
            "return state, loop_state",
        ],
    },
    # the saved model: torch.load of a state_dict into an Actor on a device; Flax's msgpack and a jitted apply
    # (full float32 matmuls, as in training: on recent GPUs XLA's default is TF32, PyTorch's is float32)
    "evaluate_saved_model": {
        "pytorch": [
            "device = torch.device(device_name(args))",
            'saved_model = torch.load(args.load_model, map_location="cpu", weights_only=True)',
            'saved = Args(**saved_model["args"])',
            'actor_state = saved_model["actor"]',
            "actor = Actor(eval_env, saved.hidden_sizes, actor_layer_norm(saved)).to(device)",
            "actor.load_state_dict(actor_state)",
            "returns = evaluate(actor, eval_env, args.eval_episodes, eval_seed, device, obs_rms, "
            "saved.observation_clip)",
        ],
        "jax": [
            'with open(args.load_model, "rb") as f:',
            "saved_model = flax.serialization.msgpack_restore(f.read())",
            'saved = Args(**{**saved_model["args"], "hidden_sizes": tuple(saved_model["args"]["hidden_sizes"])})',
            'actor_params = saved_model["actor"]',
            "actor = make_actor(eval_env, saved.hidden_sizes, actor_layer_norm(saved))",
            'jax.config.update("jax_default_matmul_precision", "float32")  # as in training',
            "returns = evaluate(jax.jit(partial(actor.apply, actor_params)), eval_env, args.eval_episodes, eval_seed, "
            "obs_rms,",
            "saved.observation_clip)  # fmt: skip",
        ],
    },
}

class Piece(NamedTuple):
    """One top-level function or assignment of an appendix: its kind, its first line's number, its lines."""

    kind: str  # "function" or "constant"
    first_line: int  # 1-based, in the script
    lines: list


def banner_line(lines: list) -> int:
    """The 0-based index of the appendix's banner line; exactly one is required."""
    found = [i for i, line in enumerate(lines) if line.startswith(BANNER)]
    assert len(found) == 1, f"expected one line starting with {BANNER!r}, found {len(found)}"
    return found[0]


def node_name(node: ast.stmt):
    """The name a top-level function or single-name assignment defines; None for any other statement."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return node.name
    targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
    return targets[0].id if len(targets) == 1 and isinstance(targets[0], ast.Name) else None


def first_line_with_comments(lines: list, node: ast.stmt) -> int:
    """The 0-based index where a node starts, counting the comment lines right above it (they say what it is)."""
    start = node.lineno - 1
    while start > 0 and lines[start - 1].lstrip().startswith("#") and not lines[start - 1].startswith("# ----"):
        start -= 1
    return start


def appendix(source: str) -> dict:
    """Name -> Piece of every top-level function and assignment after the banner line, in the order of the script."""
    lines = source.splitlines()
    after = banner_line(lines) + 1
    pieces = {}
    for node in ast.parse(source).body:
        name = node_name(node)
        if name is not None and node.lineno > after:
            start = first_line_with_comments(lines, node)
            kind = "constant" if isinstance(node, (ast.Assign, ast.AnnAssign)) else "function"
            pieces[name] = Piece(kind, start + 1, lines[start : node.end_lineno])
    return pieces


def spelling_pattern(words: list) -> re.Pattern:
    """One pattern for all the spellings, longest first, so that the first spelling found at a place is taken."""
    return re.compile("|".join(re.escape(word) for word in sorted(words, key=len, reverse=True)))


def canonical(line: str, framework: str) -> str:
    """The line with each framework spelling read as "own"/"other" and each PyTorch-only name as the JAX name."""
    own = {(pytorch if framework == "pytorch" else jax): f"«own {pytorch}|{jax}»" for pytorch, jax in SPELLINGS}
    other = {(jax if framework == "pytorch" else pytorch): f"«other {pytorch}|{jax}»" for pytorch, jax in SPELLINGS}
    words = {**own, **other}
    line = spelling_pattern(list(words)).sub(lambda match: words[match.group()], line)
    if framework == "pytorch":
        for name, jax_name in RENAMES.items():
            line = re.sub(rf"\b{re.escape(name)}\b", jax_name, line)
    return line


def compared_lines(name: str, piece: Piece, framework: str) -> list:
    """(line number, line as written, line as compared) of each line that is compared: every line but the allowed."""
    allowed = set(ALLOWED.get(name, {}).get(framework, []))
    numbered = enumerate(piece.lines, start=piece.first_line)
    return [(number, line.rstrip(), canonical(line.rstrip(), framework)) for number, line in numbered
            if line.strip() not in allowed]  # fmt: skip


def difference(name: str, pieces: dict) -> str:
    """How `name` differs between the two appendices (framework -> appendix), as lines to read; "" if it does not."""
    missing = [framework for framework in SCRIPTS if name not in pieces[framework]]
    if missing:
        return f"{name} is not in the appendix of {', '.join(SCRIPTS[framework].name for framework in missing)}"
    pytorch, jax = (compared_lines(name, pieces[framework][name], framework) for framework in ("pytorch", "jax"))
    matcher = difflib.SequenceMatcher(None, [line for *_, line in pytorch], [line for *_, line in jax], autojunk=False)
    report = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != "equal":
            report.append(f"@@ {SCRIPTS['pytorch'].name} and {SCRIPTS['jax'].name} differ here:")
            report += [f"- {SCRIPTS['pytorch'].name}:{number}: {line}" for number, line, _ in pytorch[i1:i2]]
            report += [f"+ {SCRIPTS['jax'].name}:{number}: {line}" for number, line, _ in jax[j1:j2]]
    if not report:
        return ""
    return "\n".join([f"{name} differs between the two scripts' appendices (framework spellings aside, and the lines "
                      f"of ALLOWED[{name!r}] left out):", *report,
                      f"If a line is framework-specific, list it in ALLOWED[{name!r}]; otherwise make the two agree."])


def order_difference(pieces: dict) -> str:
    """How the two appendices' names differ, in set or in order; "" if they do not."""
    pytorch, jax = (list(pieces[framework]) for framework in ("pytorch", "jax"))
    if pytorch == jax:
        return ""
    only = {framework: [name for name in pieces[framework] if name not in pieces[other]]
            for framework, other in (("pytorch", "jax"), ("jax", "pytorch"))}  # fmt: skip
    if any(only.values()):
        return "; ".join(f"only in {SCRIPTS[framework].name}: {', '.join(names)}" for framework, names in only.items()
                         if names)  # fmt: skip
    first = next(i for i, (a, b) in enumerate(zip(pytorch, jax)) if a != b)
    return (f"same names in another order, from position {first}: {SCRIPTS['pytorch'].name} has "
            f"{', '.join(pytorch[first:])}; {SCRIPTS['jax'].name} has {', '.join(jax[first:])}")


@lru_cache(maxsize=None)
def appendices() -> dict:
    """Framework -> the appendix of its script."""
    return {framework: appendix(path.read_text()) for framework, path in SCRIPTS.items()}


def names_of(kind: str) -> list:
    """The names of one kind in either appendix, in the PyTorch script's order, then the JAX script's own."""
    pieces = appendices()
    names = [name for framework in ("pytorch", "jax") for name, piece in pieces[framework].items()
             if piece.kind == kind]  # fmt: skip
    return list(dict.fromkeys(names))


def test_appendices_define_the_same_names_in_the_same_order():
    assert not (message := order_difference(appendices())), message


@pytest.mark.parametrize("name", names_of("function"))
def test_appendix_function_is_the_same_in_both_scripts(name):
    assert not (message := difference(name, appendices())), message


@pytest.mark.parametrize("name", names_of("constant"))
def test_appendix_constant_is_the_same_in_both_scripts(name):
    assert not (message := difference(name, appendices())), message


def test_every_allowed_line_is_in_its_function():
    """An entry of ALLOWED whose line is gone from its function (changed or moved) is stale: update it."""
    stale = []
    for name, per_framework in ALLOWED.items():
        for framework, allowed in per_framework.items():
            piece = appendices()[framework].get(name)
            present = {line.strip() for line in piece.lines} if piece else set()
            stale += [f"ALLOWED[{name!r}][{framework!r}]: {line!r}" for line in allowed if line not in present]
    assert not stale, "lines listed as allowed that their function no longer has:\n" + "\n".join(stale)


def test_every_name_of_the_allowed_table_is_in_the_appendices():
    names = set(names_of("function")) | set(names_of("constant"))
    assert not (unknown := set(ALLOWED) - names), f"not in the appendices: {unknown}"


def edited(framework: str, old: str, new: str) -> dict:
    """Both appendices, with `old` replaced by `new` once in one script's text (in memory: the scripts stay as they
    are)."""
    sources = {name: path.read_text() for name, path in SCRIPTS.items()}
    assert old in sources[framework].split(BANNER, 1)[1], f"{old!r} is not in the appendix of {framework}"
    after = sources[framework].rfind(old)  # the appendix is the end of the script: its last occurrence is there
    sources[framework] = sources[framework][:after] + new + sources[framework][after + len(old) :]
    return {name: appendix(source) for name, source in sources.items()}


def test_a_change_to_one_copy_is_reported_with_the_function_name():
    pieces = edited("pytorch", "if not isinstance(e, (OSError, RuntimeError)):", "if not isinstance(e, OSError):")
    message = difference("save_checkpoint", pieces)
    assert message.startswith("save_checkpoint differs"), message
    assert "- ddpg_continuous_action.py:" in message and "if not isinstance(e, OSError):" in message, message
    assert "+ ddpg_continuous_action_jax.py:" in message and "(OSError, RuntimeError)" in message, message


def test_a_change_to_one_constant_is_reported_with_its_name():
    pieces = edited("jax", '"checkpoint_frequency", "resume",', '"checkpoint_frequency",')
    assert difference("RESUMABLE", pieces).startswith("RESUMABLE differs"), difference("RESUMABLE", pieces)


def test_a_function_in_one_appendix_only_is_reported():
    pieces = edited("jax", "def device_name(args: Args) -> str:", "def backend_name(args: Args) -> str:")
    message = order_difference(pieces)
    assert "only in ddpg_continuous_action.py: device_name" in message, message
    assert "only in ddpg_continuous_action_jax.py: backend_name" in message, message

# DDPG (Lillicrap et al. 2016, arXiv:1509.02971) for continuous-action Gymnasium envs, in one file: JAX (Flax + Optax).
import json
import math
import os
import shutil
import signal
import sys
import time
import zipfile
from dataclasses import asdict, dataclass, replace
from functools import partial
from typing import Literal, Optional, Tuple

import flax.linen as nn
import flax.serialization
import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import optax
import psutil
import tyro
from tensorboardX import SummaryWriter
from tqdm import tqdm


@dataclass
class Args:
    exp_name: str = os.path.basename(__file__)[: -len(".py")]
    """the name of this experiment (part of the run name)"""
    seed: int = 1
    """seed of the experiment (envs, networks, buffer sampling, exploration)"""
    track: bool = False
    """if toggled, log the run to Weights & Biases (honours WANDB_MODE=offline)"""
    wandb_project_name: str = "ddpg"
    """the Weights & Biases project"""
    wandb_entity: Optional[str] = None
    """the Weights & Biases entity (team); None uses your default"""
    capture_video: bool = False
    """if toggled, record mp4 videos of training episodes to `runs/{run_name}/videos`"""
    save_model: bool = False
    """if toggled, save the actor, the critic and these args to `runs/{run_name}/{exp_name}.msgpack`"""
    load_model: Optional[str] = None
    """path to a file written by --save-model: evaluate its actor for --eval-episodes episodes and exit"""

    env_id: str = "Hopper-v4"
    """the id of the Gymnasium environment"""
    total_timesteps: int = 1_000_000
    """total env steps of the run"""
    learning_rate: float = 3e-4
    """the learning rate of the actor's Adam (and of the critic's, unless --critic-learning-rate is set)"""
    buffer_size: int = 1_000_000
    """the replay buffer capacity, in transitions"""
    gamma: float = 0.99
    """the discount factor"""
    tau: float = 0.005
    """the target networks' Polyak averaging coefficient"""
    batch_size: int = 256
    """the batch size of a gradient step"""
    learning_starts: int = 25_000
    """env steps of uniform random actions before learning starts"""
    policy_frequency: int = 2
    """update the actor and the target networks every this many critic updates"""
    exploration_noise_type: Literal["gaussian", "ou", "param"] = "gaussian"
    """gaussian: N(0, exploration_noise) actions; ou: Ornstein-Uhlenbeck actions; param: adaptive parameter noise"""
    exploration_noise: float = 0.1
    """the std of the Gaussian exploration noise, as a fraction of the action scale"""
    ou_theta: float = 0.15
    """the OU noise's mean reversion per step"""
    ou_sigma: float = 0.2
    """the OU noise's std per step, as a fraction of the action scale"""
    param_noise_target: float = 0.2
    """param noise: the action-space distance (a fraction of the action scale) the perturbation scale adapts to"""
    hidden_sizes: Tuple[int, int] = (256, 256)
    """the widths of the two hidden layers of the actor and the critic"""
    actor_layer_norm: bool = False
    """if toggled, LayerNorm after each hidden layer of the actor (always on with param noise)"""
    critic_layer_norm: bool = False
    """if toggled, LayerNorm after each hidden layer of the critic"""
    critic_action_layer: Literal[1, 2] = 1
    """the critic layer the action enters: 1 (with the observation) or 2 (Lillicrap et al.)"""
    final_layer_init: Optional[float] = None
    """if set, the output layers' weights and biases start uniform in [-x, x] (Lillicrap et al.: 3e-3)"""
    critic_learning_rate: Optional[float] = None
    """the critic's learning rate; None uses --learning-rate"""
    critic_weight_decay: float = 0.0
    """L2 weight decay on the critic"""
    paper: bool = False
    """Lillicrap et al. 2016: 400-300 nets, action into the critic's 2nd layer, final layers U(+-3e-3), lr 1e-4 (actor)
    and 1e-3 (critic), critic L2 1e-2, batch 64, tau 1e-3, OU noise; flags given beside it still win"""
    eval_frequency: int = 5_000
    """evaluate the noise-free actor every this many steps (Fujimoto et al.); 0: only at the end"""
    eval_episodes: int = 10
    """episodes of each deterministic evaluation, on an env instance of its own; 0 turns evaluation off"""
    diagnostics_frequency: int = 5_000
    """log the actor's actions and Q-values on fixed probe states from the buffer every this many steps; 0: never"""
    checkpoint_frequency: int = 0
    """save a checkpoint in the run directory at the first episode end after every this many steps, and stop with
    one on SIGTERM or SIGUSR1 (exit code 75); 0: no checkpoints"""
    resume: Optional[str] = None
    """a run directory to continue from its checkpoint, with the run's own settings (--total-timesteps may be raised)"""


# Lillicrap et al. 2016, section 7: the settings `--paper` switches on; flags given beside it still win.
PAPER = dict(
    hidden_sizes=(400, 300), critic_action_layer=2, final_layer_init=3e-3, learning_rate=1e-4,
    critic_learning_rate=1e-3, critic_weight_decay=1e-2, batch_size=64, tau=0.001, exploration_noise_type="ou",
    ou_theta=0.15, ou_sigma=0.2,
)  # fmt: skip


def args_error(args: Args) -> Optional[str]:
    """The first setting that makes no sense, as a line saying how to fix it; None if all is well."""
    positive = "total_timesteps buffer_size batch_size policy_frequency learning_rate param_noise_target".split()
    positive += [name for name in ("critic_learning_rate", "final_layer_init") if getattr(args, name) is not None]
    non_negative = "seed learning_starts exploration_noise ou_sigma critic_weight_decay eval_episodes".split()
    non_negative += "eval_frequency diagnostics_frequency checkpoint_frequency".split()
    for name, value in asdict(args).items():
        if isinstance(value, float) and not math.isfinite(value):
            return f"--{name.replace('_', '-')} must be a finite number, got {value}"
    for name in positive:
        if getattr(args, name) <= 0:
            return f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}"
    for name in non_negative:
        if getattr(args, name) < 0:
            return f"--{name.replace('_', '-')} must not be negative, got {getattr(args, name)}"
    if min(args.hidden_sizes) <= 0:
        return f"--hidden-sizes must be positive widths, got {' '.join(map(str, args.hidden_sizes))}"
    if not 0.0 <= args.gamma <= 1.0:
        return f"--gamma must lie in [0, 1], got {args.gamma}"
    if not 0.0 < args.tau <= 1.0:
        return f"--tau must lie in (0, 1], got {args.tau}"
    if not 0.0 < args.ou_theta <= 1.0:
        return f"--ou-theta must lie in (0, 1], got {args.ou_theta}"
    if args.batch_size > args.buffer_size:
        return (
            f"--batch-size ({args.batch_size}) is larger than --buffer-size ({args.buffer_size}); "
            "lower it or grow the buffer"
        )
    if args.learning_starts >= args.total_timesteps:
        return (
            f"--learning-starts ({args.learning_starts}) is not below --total-timesteps ({args.total_timesteps}), "
            "so no gradient step would run; lower it or train longer"
        )
    if not args.exp_name or "/" in args.exp_name or os.sep in args.exp_name:
        return f"--exp-name must be a name without '/' (it names the run directory), got {args.exp_name!r}"
    if args.load_model and args.resume:
        return "--load-model evaluates a saved model and --resume continues a run: give one of them"
    return None


def memory_available() -> int:
    """Bytes of memory this process may still take: what the machine has available, within the memory limit of
    its cgroup (v2) when it has one, as under Slurm's --mem."""
    available = psutil.virtual_memory().available
    try:
        with open("/proc/self/cgroup") as f:
            group = f.read().split("::")[-1].strip()
        with open(f"/sys/fs/cgroup{group}/memory.max") as limit, open(f"/sys/fs/cgroup{group}/memory.current") as used:
            available = min(available, int(limit.read()) - int(used.read()))
    except (OSError, ValueError):  # no cgroup v2, or no limit ("max")
        pass
    return available


def room_error(args: Args, env: gym.Env, directory: str) -> Optional[str]:
    """The replay buffer when full against the memory available, and with checkpoints on, a checkpoint against the
    free disk space (twice over for a new run: a checkpoint is written beside the last one, then replaces it). Too
    big: a line with both figures and the --buffer-size that fits. A tight fit: a warning, and the run goes on."""
    per_transition = 4 * (2 * env.observation_space.shape[0] + env.action_space.shape[0] + 2)  # float32 fields
    needs = {"memory": (memory_available(), per_transition)}
    if args.checkpoint_frequency:
        needs["disk space"] = (shutil.disk_usage(directory).free, per_transition * (1 if args.resume else 2))
    for what, (available, per_slot) in needs.items():
        need, fits = args.buffer_size * per_slot, int(0.8 * available / per_slot)  # fits: leaves a fifth for the rest
        figures = f"--buffer-size {args.buffer_size} takes {need / 2**30:.2f} GiB of {what} when full"
        figures += f" and {available / 2**30:.2f} GiB is available"
        if need > available:
            return f"{figures}; " + (f"--buffer-size {fits} would fit" if fits >= args.batch_size else "free some")
        if need > 0.8 * available:
            print(f"warning: {figures}, little room for the rest; --buffer-size {fits} leaves a fifth", file=sys.stderr)
    return None


def machine_error(args: Args, env: gym.Env, run_dir: str) -> Optional[str]:
    """The first thing this machine lacks for the run, as a line saying how to fix it: a writable run directory,
    room for the replay buffer (and checkpoints), a W&B login for --track, a renderer for --capture-video."""
    directory = run_dir
    while not os.path.exists(directory):
        directory = os.path.dirname(directory) or "."
    if not os.path.isdir(directory) or not os.access(directory, os.W_OK | os.X_OK):
        return f"cannot write the run directory {run_dir}: {directory} is not a writable directory"
    if error := room_error(args, env, directory):
        return error
    if args.checkpoint_frequency and env.spec.max_episode_steps is None:
        return f"--checkpoint-frequency: checkpoints are written at episode ends, and {args.env_id} has no time limit"
    if args.track and os.environ.get("WANDB_MODE", "online") not in ("offline", "disabled", "dryrun"):
        import wandb

        if not wandb.login(prompt=False, verify=False):
            return "--track: no W&B login here; run `wandb login`, or set WANDB_MODE=offline (and `wandb sync` later)"
    if args.capture_video:
        try:
            with gym.make(args.env_id, render_mode="rgb_array") as render_env:
                render_env.reset(seed=0)
                render_env.render()
        except Exception as e:  # whatever the renderer raises: no display, no EGL, a bad MUJOCO_GL
            reason = str(e).splitlines()[0] if str(e) else type(e).__name__
            return f"--capture-video: {args.env_id} cannot render here ({reason}); try MUJOCO_GL=egl or osmesa"
    return None


def make_env(env_id: str, seed: int, capture_video: bool = False, video_folder: str = "videos", episodes=0) -> gym.Env:
    """One env with episode statistics (and videos), `episodes` into a run; ValueError if DDPG cannot act in it."""
    env = gym.make(env_id, render_mode="rgb_array" if capture_video else None)
    if not isinstance(env.action_space, gym.spaces.Box):
        raise ValueError(f"{env_id} has a {env.action_space} action space; DDPG needs continuous (Box) actions")
    if not isinstance(env.observation_space, gym.spaces.Box) or len(env.observation_space.shape) != 1:
        raise ValueError(f"{env_id} has a {env.observation_space} observation space; this script needs a flat Box")
    env.reset(seed=seed)  # seeds the env's generator, from which every later reset draws (a checkpoint saves it)
    if capture_video:
        env = gym.wrappers.RecordVideo(env, video_folder)
        env.episode_id = episodes - 1  # a resumed run numbers (and picks) its videos where it stopped
    env = gym.wrappers.RecordEpisodeStatistics(env)
    env.episode_count = episodes
    env.action_space.seed(seed)
    return env


class ReplayBuffer:
    """Preallocated float32 ring buffer of transitions: O(1) add, uniform sampling, oldest overwritten when full."""

    def __init__(self, capacity: int, obs_dim: int, act_dim: int, seed: int):
        self.capacity, self.pos, self.size = capacity, 0, 0
        # np.full writes every page now, where np.zeros would leave it to the first write: memory the machine cannot
        # give fails the run here, not hours later when the buffer fills
        self.obs = np.full((capacity, obs_dim), 0.0, dtype=np.float32)
        self.next_obs = np.full((capacity, obs_dim), 0.0, dtype=np.float32)
        self.actions = np.full((capacity, act_dim), 0.0, dtype=np.float32)
        self.rewards = np.full(capacity, 0.0, dtype=np.float32)
        self.terminations = np.full(capacity, 0.0, dtype=np.float32)
        self.rng = np.random.default_rng(seed)

    def add(self, obs, next_obs, action, reward, terminated):
        self.obs[self.pos], self.next_obs[self.pos], self.actions[self.pos] = obs, next_obs, action
        self.rewards[self.pos], self.terminations[self.pos] = reward, terminated
        self.pos = (self.pos + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, batch_size: int):
        idx = self.rng.integers(0, self.size, batch_size)
        return self.obs[idx], self.actions[idx], self.rewards[idx], self.next_obs[idx], self.terminations[idx]


class Actor(nn.Module):
    action_low: np.ndarray
    action_high: np.ndarray
    hidden_sizes: Tuple[int, int] = (256, 256)
    layer_norm: bool = False

    @nn.compact
    def __call__(self, obs):
        low, high = np.asarray(self.action_low, np.float64), np.asarray(self.action_high, np.float64)
        x = nn.Dense(self.hidden_sizes[0], name="fc1")(obs)
        x = nn.relu(nn.LayerNorm(epsilon=1e-5, name="ln1")(x) if self.layer_norm else x)
        x = nn.Dense(self.hidden_sizes[1], name="fc2")(x)
        x = nn.relu(nn.LayerNorm(epsilon=1e-5, name="ln2")(x) if self.layer_norm else x)
        x = nn.Dense(low.shape[0], name="fc_mu")(x)
        # tanh maps to (-1, 1); scale and bias map that onto [low, high] per dimension (bounds may be asymmetric),
        # and the clip catches the float rounding that can land a saturated action one ulp outside
        action = jnp.tanh(x) * np.float32((high - low) / 2) + np.float32((high + low) / 2)
        return jnp.clip(action, np.float32(low), np.float32(high))


class QNetwork(nn.Module):
    hidden_sizes: Tuple[int, int] = (256, 256)
    layer_norm: bool = False
    action_layer: int = 1

    @nn.compact
    def __call__(self, obs, action):
        x = nn.Dense(self.hidden_sizes[0], name="fc1")(
            jnp.concatenate([obs, action], -1) if self.action_layer == 1 else obs
        )
        x = nn.relu(nn.LayerNorm(epsilon=1e-5, name="ln1")(x) if self.layer_norm else x)
        x = nn.Dense(self.hidden_sizes[1], name="fc2")(
            jnp.concatenate([x, action], -1) if self.action_layer == 2 else x
        )
        x = nn.relu(nn.LayerNorm(epsilon=1e-5, name="ln2")(x) if self.layer_norm else x)
        return nn.Dense(1, name="fc3")(x).squeeze(-1)


def make_actor(env: gym.Env, hidden_sizes=(256, 256), layer_norm=False) -> Actor:
    return Actor(env.action_space.low, env.action_space.high, tuple(hidden_sizes), layer_norm)


def init_params(network: nn.Module, rng: np.random.Generator, final_layer_init: Optional[float], *inputs) -> dict:
    """Draw every Dense layer from `rng` as PyTorch's nn.Linear does, weights and biases U(+-1/sqrt(fan_in)); the
    output layer U(+-final_layer_init) when that is set; LayerNorm at scale 1, bias 0. The PyTorch script draws the
    same numbers in the same order, so that one seed gives both scripts the same networks."""
    shapes = jax.eval_shape(network.init, jax.random.PRNGKey(0), *inputs)["params"]  # shapes only: nothing drawn
    params = {name: {"scale": jnp.ones(layer["scale"].shape), "bias": jnp.zeros(layer["bias"].shape)}
              for name, layer in shapes.items() if name.startswith("ln")}  # fmt: skip
    dense = sorted(name for name in shapes if name.startswith("fc"))  # fc1, fc2, then the output layer
    for name in dense:
        limit = 1 / np.sqrt(shapes[name]["kernel"].shape[0])
        if name == dense[-1] and final_layer_init is not None:
            limit = final_layer_init
        params[name] = {key: jnp.asarray(rng.uniform(-limit, limit, shapes[name][key].shape).astype(np.float32))
                        for key in ("kernel", "bias")}  # fmt: skip
    return {"params": params}


def compute_td_target(rewards, terminations, next_obs, target_actor, qf1_target, gamma: float):
    """y = r + gamma * (1 - terminated) * Q'(s', mu'(s')): only a true termination stops bootstrapping."""
    next_q = qf1_target(next_obs, target_actor(next_obs))
    return jax.lax.stop_gradient(rewards + gamma * (1.0 - terminations) * next_q)


def critic_loss(qf1_params, qf1: QNetwork, obs, actions, td_target):
    """Mean squared error of Q(s, a) against the TD target, and Q(s, a)."""
    qf1_a_values = qf1.apply(qf1_params, obs, actions)
    return ((qf1_a_values - td_target) ** 2).mean(), qf1_a_values


def actor_loss(actor_params, actor: Actor, qf1: QNetwork, qf1_params, obs):
    """-mean Q(s, mu(s)): the actor climbs the critic."""
    return -qf1.apply(qf1_params, obs, actor.apply(actor_params, obs)).mean()


def soft_update(target_params, params, tau: float):
    """Polyak averaging: target <- tau * params + (1 - tau) * target."""
    return optax.incremental_update(params, target_params, tau)


def update_critic(state: dict, batch, actor: Actor, qf1: QNetwork, q_optimizer, gamma: float):
    """One Adam step on the critic; returns the new state, the loss, Q(s, a) and the TD target."""
    obs, actions, rewards, next_obs, terminations = batch
    target_actor = partial(actor.apply, state["actor_target_params"])
    qf1_target = partial(qf1.apply, state["qf1_target_params"])
    td_target = compute_td_target(rewards, terminations, next_obs, target_actor, qf1_target, gamma)
    grad_fn = jax.value_and_grad(critic_loss, has_aux=True)
    (qf1_loss, qf1_a_values), grads = grad_fn(state["qf1_params"], qf1, obs, actions, td_target)
    updates, q_opt_state = q_optimizer.update(grads, state["q_opt_state"], state["qf1_params"])
    qf1_params = optax.apply_updates(state["qf1_params"], updates)
    return {**state, "qf1_params": qf1_params, "q_opt_state": q_opt_state}, qf1_loss, qf1_a_values, td_target


def update_actor(state: dict, obs, actor: Actor, qf1: QNetwork, actor_optimizer):
    """One Adam step on the actor; returns the new state and the loss."""
    loss, grads = jax.value_and_grad(actor_loss)(state["actor_params"], actor, qf1, state["qf1_params"], obs)
    updates, actor_opt_state = actor_optimizer.update(grads, state["actor_opt_state"])
    actor_params = optax.apply_updates(state["actor_params"], updates)
    return {**state, "actor_params": actor_params, "actor_opt_state": actor_opt_state}, loss


def ou_step(noise: np.ndarray, theta: float, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """One step of the Ornstein-Uhlenbeck process x <- x - theta * x + sigma * N(0, 1): noise correlated in time."""
    return noise - theta * noise + sigma * rng.standard_normal(noise.shape)


def perturb_actor(actor_params, std: float, rng: np.random.Generator):
    """Plappert et al. 2018: the actor's weights plus N(0, std^2) noise; LayerNorm's own parameters stay clean.
    The noise is drawn as the PyTorch script draws it: layer by layer, each kernel (in, out), then its bias."""
    layers = dict(actor_params["params"])
    for name in sorted(name for name in layers if name.startswith("fc")):  # fc1, fc2, fc_mu
        layers[name] = {key: layers[name][key] + (std * rng.standard_normal(layers[name][key].shape)).astype(np.float32)
                        for key in ("kernel", "bias")}  # fmt: skip
    return {"params": layers}


def adapt_param_noise(std: float, distance: float, target: float, coefficient: float = 1.01) -> float:
    """Shrink the perturbation while it moves actions further than the target distance, grow it otherwise."""
    return std / coefficient if distance > target else std * coefficient


def evaluate(actor_fn, env: gym.Env, episodes: int, seed: int) -> list:
    """Returns of `episodes` episodes with the noise-free actor; the seeded first reset makes it repeatable."""
    returns = []
    obs, _ = env.reset(seed=seed)
    while len(returns) < episodes:
        obs, _, terminated, truncated, info = env.step(np.asarray(actor_fn(obs.astype(np.float32))))
        if terminated or truncated:
            returns.append(float(info["episode"]["r"]))
            obs, _ = env.reset()
    return returns


# Checkpoints. A run's state is saved at an episode end (an env mid-episode cannot be saved in general) and holds
# everything the rest of the run depends on, so that a resumed run is the run that would have been.
STOPPED = 75  # the exit code of a run stopped by SIGTERM or SIGUSR1 after saving its checkpoint (EX_TEMPFAIL)
# what a resumed run may change: none of it changes what the run learns
RESUMABLE = {"total_timesteps", "track", "wandb_project_name", "wandb_entity", "capture_video", "save_model",
             "eval_frequency", "eval_episodes", "diagnostics_frequency", "checkpoint_frequency", "resume"}  # fmt: skip
BUFFER_FIELDS = ("obs", "next_obs", "actions", "rewards", "terminations")


def save_checkpoint(run_dir: str, step: int, state: dict, rngs: dict, rb: ReplayBuffer, extra: dict):
    """Write the checkpoint aside, then rename it over the previous one: a kill or a full disk during the write
    leaves the previous checkpoint as it was (a failed write stops the run with one line)."""
    path = os.path.join(run_dir, "checkpoint.npz")
    arrays = {jax.tree_util.keystr(key): np.asarray(leaf) for key, leaf in jax.tree_util.tree_leaves_with_path(state)}
    arrays |= {f"buffer.{name}": getattr(rb, name)[: rb.size] for name in BUFFER_FIELDS}
    arrays |= {key: value for key, value in extra.items() if isinstance(value, np.ndarray)}
    meta = {
        "framework": "jax", "step": step,
        "rngs": {name: rng.bit_generator.state for name, rng in rngs.items()},
        **{key: value for key, value in extra.items() if not isinstance(value, np.ndarray)},
    }  # fmt: skip
    try:
        with open(path + ".tmp", "wb") as f:
            np.savez(f, meta=json.dumps(meta), **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(path + ".tmp", path)
    except OSError as e:
        if os.path.exists(path + ".tmp"):
            os.remove(path + ".tmp")
        then = f"the previous checkpoint is intact: free space, then --resume {run_dir}" if os.path.exists(path) else ""
        sys.exit(f"error: cannot write a checkpoint at step {step} ({e}); {then or 'free space and start again'}")


def load_checkpoint(run_dir: str) -> dict:
    """The checkpoint of a run directory, or one line saying why there is none to resume from."""
    path, other = os.path.join(run_dir, "checkpoint.npz"), os.path.join(run_dir, "checkpoint.pt")
    if not os.path.isdir(run_dir):
        sys.exit(f"error: --resume {run_dir}: no such run directory")
    if not os.path.exists(path) and os.path.exists(other):
        sys.exit(f"error: --resume {run_dir}: written by the PyTorch script; resume it with ddpg_continuous_action.py")
    if not os.path.exists(path):
        sys.exit(f"error: --resume {run_dir}: no checkpoint there (a run writes one with --checkpoint-frequency N)")
    try:  # a checkpoint is a zip archive
        if zipfile.ZipFile(path).testzip() is not None:  # checks every array's CRC: a flipped bit is caught too
            raise ValueError("CRC mismatch")
        arrays = np.load(path)  # lazily: each array is read when it is restored
        checkpoint = {**json.loads(str(arrays["meta"])), "arrays": arrays}
        assert checkpoint["framework"] == "jax"
        checkpoint["args"]["hidden_sizes"] = tuple(checkpoint["args"]["hidden_sizes"])
        return checkpoint
    except Exception as e:  # truncated, corrupt, or not written by this script
        sys.exit(f"error: --resume {run_dir}: its checkpoint.npz is truncated or corrupt ({type(e).__name__})")


def resume_error(args: Args, saved: Args, step: int) -> Optional[str]:
    """The first setting of a resumed run that differs from the run's own and would change what it learns."""
    for name, value in asdict(args).items():
        if name not in RESUMABLE and value != getattr(saved, name):
            flag = f"--{name.replace('_', '-')}"
            return f"{flag} {value} differs from the run's {getattr(saved, name)}; a resumed run keeps its settings"
    if args.total_timesteps <= step:
        return f"--total-timesteps {args.total_timesteps}: the run is at step {step} already; give more to go on"
    return None


def restore_checkpoint(checkpoint: dict, state: dict, rngs: dict, rb: ReplayBuffer) -> tuple:
    """Load a checkpoint's random-number states and buffer into the run's fresh ones; return the state (networks and
    optimisers) it holds, and the rest of what it holds (the loop's own state)."""
    arrays = checkpoint["arrays"]
    keys, treedef = jax.tree_util.tree_flatten_with_path(state)
    state = jax.tree_util.tree_unflatten(treedef, [jnp.asarray(arrays[jax.tree_util.keystr(key)]) for key, _ in keys])
    for name, rng in rngs.items():
        rng.bit_generator.state = checkpoint["rngs"][name]
    for name in BUFFER_FIELDS:
        stored = arrays[f"buffer.{name}"]
        getattr(rb, name)[: len(stored)] = stored
    # one transition per env step: `step` of them were added, the oldest overwritten once the buffer was full
    rb.pos, rb.size = checkpoint["step"] % rb.capacity, len(stored)
    loop_state = {key: value for key, value in checkpoint.items() if key not in ("arrays", "rngs")}
    loop_state |= {key: arrays[key] for key in ("probe_obs", "probe_actions") if key in arrays.files}
    return state, loop_state


if __name__ == "__main__":
    args = tyro.cli(Args)
    checkpoint = None
    if args.resume and not args.load_model:  # parse again with the run's own settings as defaults: flags must match
        checkpoint = load_checkpoint(args.resume)
        saved = Args(**checkpoint["args"])
        args = tyro.cli(Args, default=replace(saved, resume=args.resume))
        if error := resume_error(args, saved, checkpoint["step"]):
            sys.exit(f"error: --resume {args.resume}: {error}")
    elif args.paper:  # parse again with the paper's values as defaults, so that flags given beside --paper win
        args = tyro.cli(Args, default=replace(Args(), **PAPER, paper=True))
    if args.exploration_noise_type == "param":
        args.actor_layer_norm = True  # parameter noise needs comparable scales across layers
    if error := args_error(args):
        sys.exit(f"error: {error}")
    os.environ.setdefault("MUJOCO_GL", "egl")  # headless rendering for --capture-video
    eval_seed = args.seed + 10_000  # the evaluation env sees other initial states than the training env
    # One numpy generator per use, drawn in the same order in both scripts: one seed gives both scripts one run.
    init_seed, noise_seed, buffer_seed = np.random.SeedSequence(args.seed).spawn(3)

    if args.load_model:
        try:
            with open(args.load_model, "rb") as f:
                saved_model = flax.serialization.msgpack_restore(f.read())
            saved = Args(**{**saved_model["args"], "hidden_sizes": tuple(saved_model["args"]["hidden_sizes"])})
            actor_params = saved_model["actor"]
        except Exception as e:  # missing, truncated or foreign: say which, and never suggest unpickling it anyway
            reason = f"not a model saved by this script's --save-model ({type(e).__name__})"
            if args.load_model.endswith(".pt"):
                reason = "a model of the PyTorch script: evaluate it with ddpg_continuous_action.py"
            sys.exit(
                f"error: --load-model {args.load_model}: {reason if os.path.isfile(args.load_model) else 'no file'}"
            )
        eval_env = make_env(saved.env_id, eval_seed)
        actor = make_actor(eval_env, saved.hidden_sizes, saved.actor_layer_norm)
        returns = evaluate(jax.jit(partial(actor.apply, actor_params)), eval_env, args.eval_episodes, eval_seed)
        print(f"{saved.env_id}: eval episodic returns {[round(r, 2) for r in returns]}")
        print(f"mean {np.mean(returns):.2f} +- {np.std(returns):.2f} over {len(returns)} episodes")
        sys.exit(0)

    run_dir = args.resume or os.path.join("runs", f"{args.env_id}__{args.exp_name}__{args.seed}__{int(time.time())}")
    run_name = os.path.basename(os.path.normpath(run_dir))
    if os.path.exists(run_dir) and not args.resume:
        sys.exit(f"error: {run_dir} already exists; wait a second or change --exp-name or --seed")
    try:  # the evaluation env first: it writes nothing (no videos), and tells whether DDPG can act in the env
        eval_env = make_env(args.env_id, eval_seed)
    except (ValueError, ImportError, gym.error.Error) as e:  # unknown, a missing dependency, or not for DDPG
        sys.exit(f"error: --env-id {args.env_id}: {e}")
    except Exception as e:  # the one other way a MuJoCo env fails to make: its renderer's library does not load
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        sys.exit(f"error: --env-id {args.env_id}: {reason} (MUJOCO_GL={os.environ['MUJOCO_GL']}: try egl or osmesa)")
    if error := machine_error(args, eval_env, run_dir):
        sys.exit(f"error: {error}")
    start_step = checkpoint["step"] if checkpoint else 0
    episodes = checkpoint["episodes"] if checkpoint else 0
    env = make_env(args.env_id, args.seed, args.capture_video, os.path.join(run_dir, "videos"), episodes)

    wandb_id = checkpoint["wandb_id"] if checkpoint else None
    if args.track:
        import wandb

        wandb_run = wandb.init(project=args.wandb_project_name, entity=args.wandb_entity, name=run_name,
                               config=asdict(args), sync_tensorboard=True, save_code=True, id=wandb_id,
                               resume="allow")  # fmt: skip
        wandb_id = wandb_run.id  # saved in checkpoints: a resumed run goes on in the same W&B run
    # a resumed run hides what a killed run logged after its checkpoint: TensorBoard drops steps >= purge_step
    writer = SummaryWriter(run_dir, purge_step=start_step + 1 if checkpoint else None)
    if not checkpoint:
        table = "\n".join(f"|{key}|{value}|" for key, value in asdict(args).items())
        writer.add_text("hyperparameters", f"|param|value|\n|-|-|\n{table}")

    actor = make_actor(env, args.hidden_sizes, args.actor_layer_norm)
    qf1 = QNetwork(args.hidden_sizes, args.critic_layer_norm, args.critic_action_layer)
    init_rng = np.random.default_rng(init_seed)
    obs_zeros, action_zeros = np.zeros(env.observation_space.shape), np.zeros(env.action_space.shape)  # for shapes
    actor_params = init_params(actor, init_rng, args.final_layer_init, obs_zeros)
    qf1_params = init_params(qf1, init_rng, args.final_layer_init, obs_zeros, action_zeros)
    critic_learning_rate = args.critic_learning_rate or args.learning_rate
    actor_optimizer = optax.adam(args.learning_rate)
    q_optimizer = optax.chain(optax.add_decayed_weights(args.critic_weight_decay), optax.adam(critic_learning_rate))
    state = {"actor_params": actor_params, "qf1_params": qf1_params, "actor_target_params": actor_params,
             "qf1_target_params": qf1_params, "actor_opt_state": actor_optimizer.init(actor_params),
             "q_opt_state": q_optimizer.init(qf1_params)}  # fmt: skip
    actor_apply, qf1_apply = jax.jit(actor.apply), jax.jit(qf1.apply)
    action_scale = np.float32((env.action_space.high - env.action_space.low) / 2)
    noise_rng = np.random.default_rng(noise_seed)
    param_noise_std = 0.1  # param noise's initial scale; it adapts from there

    # One compiled call per gradient step: the critic update, then (every policy_frequency-th step) the actor
    # update and the soft updates. `with_actor` is static, so there are exactly two compiled versions.
    @partial(jax.jit, static_argnames="with_actor")
    def update(state, batch, with_actor: bool):
        state, qf1_loss, qf1_a_values, td_target = update_critic(state, batch, actor, qf1, q_optimizer, args.gamma)
        metrics = {"qf1_loss": qf1_loss, "qf1_values": qf1_a_values.mean(), "td_target": td_target.mean()}
        if with_actor:
            state, metrics["actor_loss"] = update_actor(state, batch[0], actor, qf1, actor_optimizer)
            state["actor_target_params"] = soft_update(state["actor_target_params"], state["actor_params"], args.tau)
            state["qf1_target_params"] = soft_update(state["qf1_target_params"], state["qf1_params"], args.tau)
        return state, metrics

    rb = ReplayBuffer(args.buffer_size, env.observation_space.shape[0], env.action_space.shape[0], buffer_seed)

    rngs = {"env": env.np_random, "action_space": env.action_space.np_random, "noise": noise_rng, "buffer": rb.rng}
    episodic_return = float("nan")  # the latest episode's, for the progress output
    probe_obs = probe_actions = None
    if checkpoint:
        state, saved = restore_checkpoint(checkpoint, state, rngs, rb)
        param_noise_std, episodic_return = saved["param_noise_std"], saved["episodic_return"]
        probe_obs, probe_actions = saved["probe_obs"], saved["probe_actions"]
        print(f"resuming {run_dir} at step {start_step} of {args.total_timesteps}", flush=True)
    stop_signals = []  # SIGTERM (preemption) or SIGUSR1 (Slurm's --signal): save at the next episode end and stop
    if args.checkpoint_frequency:
        for signum in (signal.SIGTERM, signal.SIGUSR1):
            signal.signal(signum, lambda signum, frame: stop_signals.append(signum))

    # a progress bar on a terminal; plain lines every 1% of the run in Slurm and CI logs
    progress = tqdm(range(start_step, args.total_timesteps), initial=start_step, total=args.total_timesteps,
                    disable=not sys.stderr.isatty(), unit="step", smoothing=0.05)  # fmt: skip
    print_every = max(args.total_timesteps // 100, 1)
    every = args.checkpoint_frequency
    next_checkpoint = (start_step // every + 1) * every if every else float("inf")
    start_time = time.time()
    obs = None  # no episode under way: the next one starts at the top of the loop, which is where a run resumes
    for global_step in progress:
        steps_done = global_step + 1  # what this iteration logs is logged at the number of env steps done
        if obs is None:
            obs, _ = env.reset()
            ou_noise = np.zeros_like(action_scale)
            if args.exploration_noise_type == "param":
                perturbed_params = perturb_actor(state["actor_params"], param_noise_std, noise_rng)

        if global_step < args.learning_starts:
            action = env.action_space.sample()
        else:
            params = perturbed_params if args.exploration_noise_type == "param" else state["actor_params"]
            action = np.array(actor_apply(params, obs.astype(np.float32)))
            if args.exploration_noise_type == "gaussian":
                action += noise_rng.normal(0.0, args.exploration_noise * action_scale).astype(np.float32)
            elif args.exploration_noise_type == "ou":
                ou_noise = ou_step(ou_noise, args.ou_theta, args.ou_sigma, noise_rng)
                action += (ou_noise * action_scale).astype(np.float32)
            action = np.clip(action, env.action_space.low, env.action_space.high)

        next_obs, reward, terminated, truncated, info = env.step(action)
        # A single env does not autoreset, so on truncation next_obs is the episode's real final observation:
        # the TD target bootstraps from it. Only `terminated` stops bootstrapping.
        rb.add(obs, next_obs, action, reward, terminated)
        obs = None if terminated or truncated else next_obs
        if obs is None:
            episodic_return = float(info["episode"]["r"])
            writer.add_scalar("charts/episodic_return", episodic_return, steps_done)
            writer.add_scalar("charts/episodic_length", info["episode"]["l"], steps_done)
            progress.set_postfix(episodic_return=f"{episodic_return:.1f}", refresh=False)

        if global_step > args.learning_starts:
            with_actor = steps_done % args.policy_frequency == 0
            batch = rb.sample(args.batch_size)
            state, metrics = update(state, batch, with_actor)
            if with_actor and steps_done % 100 < args.policy_frequency:  # once per 100 steps, whatever the frequency
                writer.add_scalar("losses/actor_loss", float(metrics["actor_loss"]), steps_done)

            if steps_done % 100 == 0:
                writer.add_scalar("losses/qf1_loss", float(metrics["qf1_loss"]), steps_done)
                writer.add_scalar("losses/qf1_values", float(metrics["qf1_values"]), steps_done)
                writer.add_scalar("losses/td_target", float(metrics["td_target"]), steps_done)
                writer.add_scalar("charts/SPS", int((steps_done - start_step) / (time.time() - start_time)), steps_done)

            if args.exploration_noise_type == "param" and steps_done % 50 == 0:  # Plappert et al. adapt every 50
                adaptive_params = perturb_actor(state["actor_params"], param_noise_std, noise_rng)
                clean, perturbed = actor_apply(state["actor_params"], batch[0]), actor_apply(adaptive_params, batch[0])
                distance = float(jnp.sqrt(jnp.mean(((clean - perturbed) / action_scale) ** 2)))
                param_noise_std = adapt_param_noise(param_noise_std, distance, args.param_noise_target)
                if steps_done % 100 == 0:
                    writer.add_scalar("charts/param_noise_std", param_noise_std, steps_done)
                    writer.add_scalar("charts/param_noise_distance", distance, steps_done)

        if args.diagnostics_frequency and global_step == args.learning_starts:
            # probe states evenly spaced over the buffer, taken once, to follow the same states over training
            probe_obs = rb.obs[np.linspace(0, rb.size - 1, 256).astype(int)]
            probe_actions = np.asarray(actor_apply(state["actor_params"], probe_obs))
        if args.diagnostics_frequency and probe_obs is not None and steps_done % args.diagnostics_frequency == 0:
            actions = np.asarray(actor_apply(state["actor_params"], probe_obs))
            probe_q = np.asarray(qf1_apply(state["qf1_params"], probe_obs, actions))
            drift = float(np.mean(np.abs(actions - probe_actions) / action_scale))
            writer.add_histogram("diagnostics/probe_actions", actions, steps_done)
            writer.add_histogram("diagnostics/probe_q_values", probe_q, steps_done)
            writer.add_scalar("diagnostics/probe_q_mean", float(probe_q.mean()), steps_done)
            writer.add_scalar("diagnostics/probe_action_drift", drift, steps_done)
            probe_actions = actions

        eval_due = args.eval_frequency and steps_done % args.eval_frequency == 0
        if args.eval_episodes and (eval_due or steps_done == args.total_timesteps):
            returns = evaluate(partial(actor_apply, state["actor_params"]), eval_env, args.eval_episodes, eval_seed)
            writer.add_scalar("eval/episodic_return", np.mean(returns), steps_done)
            rounded = [round(r, 2) for r in returns]
            tqdm.write(f"step {steps_done}: eval episodic returns {rounded}; mean {np.mean(returns):.2f}")

        if progress.disable and steps_done % print_every == 0:
            sps = int((steps_done - start_step) / (time.time() - start_time))
            line = f"step {steps_done}/{args.total_timesteps} | {sps} steps/s | episodic_return {episodic_return:.1f}"
            print(line, flush=True)

        if obs is None and (steps_done >= next_checkpoint or stop_signals):  # between episodes: a run can resume here
            # every event up to this step on disk before the checkpoint that resumes after it: tensorboardX's flush
            # leaves events still queued for its writing thread, its close does not
            writer.close()
            save_checkpoint(run_dir, steps_done, state, rngs, rb, {
                "args": asdict(args), "episodes": env.episode_count, "episodic_return": episodic_return,
                "param_noise_std": param_noise_std, "probe_obs": probe_obs, "probe_actions": probe_actions,
                "wandb_id": wandb_id,
            })  # fmt: skip
            next_checkpoint = (steps_done // args.checkpoint_frequency + 1) * args.checkpoint_frequency
            if stop_signals:
                print(f"stopped at step {steps_done} (signal {stop_signals[0]}), checkpoint saved; go on with: "
                      f"python {sys.argv[0]} --resume {run_dir}", flush=True)  # fmt: skip
                sys.exit(STOPPED)
            # the log goes on in a file of its own; TensorBoard reads files in name order, the padded step keeps
            # two files opened within one second in order
            writer = SummaryWriter(run_dir, filename_suffix=f".{steps_done:012d}")
    progress.close()
    env.close()
    eval_env.close()

    if args.save_model:
        model_path = os.path.join(run_dir, f"{args.exp_name}.msgpack")
        saved_args = {**asdict(args), "hidden_sizes": list(args.hidden_sizes)}  # msgpack takes lists, not tuples
        saved_model = {"actor": state["actor_params"], "qf1": state["qf1_params"], "args": saved_args}
        with open(model_path, "wb") as f:
            f.write(flax.serialization.msgpack_serialize(saved_model))
        print(f"model saved to {model_path}; evaluate it with: python {sys.argv[0]} --load-model {model_path}")
    writer.close()
    if args.track:
        wandb.finish()

# DDPG (Lillicrap et al. 2016, arXiv:1509.02971) for continuous-action Gymnasium envs, in one file: JAX (Flax + Optax).
import os
import random
import sys
import time
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


# Lillicrap et al. 2016, section 7: the settings `--paper` switches on; flags given beside it still win.
PAPER = dict(
    hidden_sizes=(400, 300), critic_action_layer=2, final_layer_init=3e-3, learning_rate=1e-4,
    critic_learning_rate=1e-3, critic_weight_decay=1e-2, batch_size=64, tau=0.001, exploration_noise_type="ou",
    ou_theta=0.15, ou_sigma=0.2,
)  # fmt: skip


def args_error(args: Args) -> Optional[str]:
    """The first setting that makes no sense, as a line saying how to fix it; None if all is well."""
    positive = "total_timesteps buffer_size batch_size policy_frequency learning_rate param_noise_target".split()
    positive += ["critic_learning_rate"] if args.critic_learning_rate is not None else []
    non_negative = "learning_starts exploration_noise ou_sigma critic_weight_decay eval_episodes eval_frequency".split()
    for name in positive:
        if getattr(args, name) <= 0:
            return f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}"
    for name in non_negative + ["diagnostics_frequency"]:
        if getattr(args, name) < 0:
            return f"--{name.replace('_', '-')} must not be negative, got {getattr(args, name)}"
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
    return None


def make_env(env_id: str, seed: int, capture_video: bool = False, video_folder: str = "videos") -> gym.Env:
    """One env with episode statistics (and videos); ValueError if DDPG cannot act in it."""
    env = gym.make(env_id, render_mode="rgb_array" if capture_video else None)
    if not isinstance(env.action_space, gym.spaces.Box):
        raise ValueError(f"{env_id} has a {env.action_space} action space; DDPG needs continuous (Box) actions")
    if not isinstance(env.observation_space, gym.spaces.Box) or len(env.observation_space.shape) != 1:
        raise ValueError(f"{env_id} has a {env.observation_space} observation space; this script needs a flat Box")
    if capture_video:
        env = gym.wrappers.RecordVideo(env, video_folder)
    env = gym.wrappers.RecordEpisodeStatistics(env)
    env.action_space.seed(seed)
    return env


class ReplayBuffer:
    """Preallocated float32 ring buffer of transitions: O(1) add, uniform sampling, oldest overwritten when full."""

    def __init__(self, capacity: int, obs_dim: int, act_dim: int, seed: int):
        self.capacity, self.pos, self.size = capacity, 0, 0
        self.obs = np.zeros((capacity, obs_dim), dtype=np.float32)
        self.next_obs = np.zeros((capacity, obs_dim), dtype=np.float32)
        self.actions = np.zeros((capacity, act_dim), dtype=np.float32)
        self.rewards = np.zeros(capacity, dtype=np.float32)
        self.terminations = np.zeros(capacity, dtype=np.float32)
        self.rng = np.random.default_rng(seed)

    def add(self, obs, next_obs, action, reward, terminated):
        self.obs[self.pos], self.next_obs[self.pos], self.actions[self.pos] = obs, next_obs, action
        self.rewards[self.pos], self.terminations[self.pos] = reward, terminated
        self.pos = (self.pos + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, batch_size: int):
        idx = self.rng.integers(0, self.size, batch_size)
        return self.obs[idx], self.actions[idx], self.rewards[idx], self.next_obs[idx], self.terminations[idx]


def uniform_init(limit: Optional[float]) -> dict:
    """Dense kwargs drawing weights and biases uniform in [-limit, limit]; Flax's defaults when limit is None."""
    if limit is None:
        return {}
    init = lambda key, shape, dtype=jnp.float32: jax.random.uniform(key, shape, dtype, -limit, limit)  # noqa: E731
    return {"kernel_init": init, "bias_init": init}


class Actor(nn.Module):
    action_low: np.ndarray
    action_high: np.ndarray
    hidden_sizes: Tuple[int, int] = (256, 256)
    layer_norm: bool = False
    final_layer_init: Optional[float] = None

    @nn.compact
    def __call__(self, obs):
        low, high = np.asarray(self.action_low, np.float64), np.asarray(self.action_high, np.float64)
        x = nn.Dense(self.hidden_sizes[0], name="fc1")(obs)
        x = nn.relu(nn.LayerNorm(epsilon=1e-5, name="ln1")(x) if self.layer_norm else x)
        x = nn.Dense(self.hidden_sizes[1], name="fc2")(x)
        x = nn.relu(nn.LayerNorm(epsilon=1e-5, name="ln2")(x) if self.layer_norm else x)
        x = nn.Dense(low.shape[0], name="fc_mu", **uniform_init(self.final_layer_init))(x)
        # tanh maps to (-1, 1); scale and bias map that onto [low, high] per dimension (bounds may be asymmetric),
        # and the clip catches the float rounding that can land a saturated action one ulp outside
        action = jnp.tanh(x) * np.float32((high - low) / 2) + np.float32((high + low) / 2)
        return jnp.clip(action, np.float32(low), np.float32(high))


class QNetwork(nn.Module):
    hidden_sizes: Tuple[int, int] = (256, 256)
    layer_norm: bool = False
    final_layer_init: Optional[float] = None
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
        return nn.Dense(1, name="fc3", **uniform_init(self.final_layer_init))(x).squeeze(-1)


def make_actor(env: gym.Env, hidden_sizes=(256, 256), layer_norm=False, final_layer_init=None) -> Actor:
    return Actor(env.action_space.low, env.action_space.high, tuple(hidden_sizes), layer_norm, final_layer_init)


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


def perturb_actor(actor_params, std: float, key):
    """Plappert et al. 2018: the actor's weights plus N(0, std^2) noise; LayerNorm's own parameters stay clean."""
    leaves, treedef = jax.tree_util.tree_flatten_with_path(actor_params)
    keys = jax.random.split(key, len(leaves))
    perturbed = [
        param if "ln" in jax.tree_util.keystr(path) else param + std * jax.random.normal(k, param.shape)
        for (path, param), k in zip(leaves, keys)
    ]
    return jax.tree_util.tree_unflatten(treedef, perturbed)


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


if __name__ == "__main__":
    args = tyro.cli(Args)
    if args.paper:  # parse again with the paper's values as defaults, so that flags given beside --paper win
        args = tyro.cli(Args, default=replace(Args(), **PAPER, paper=True))
    if args.exploration_noise_type == "param":
        args.actor_layer_norm = True  # parameter noise needs comparable scales across layers
    if error := args_error(args):
        sys.exit(f"error: {error}")
    os.environ.setdefault("MUJOCO_GL", "egl")  # headless rendering for --capture-video
    random.seed(args.seed)
    np.random.seed(args.seed)
    key = jax.random.PRNGKey(args.seed)
    eval_seed = args.seed + 10_000  # the evaluation env sees other initial states than the training env

    if args.load_model:
        try:
            with open(args.load_model, "rb") as f:
                checkpoint = flax.serialization.msgpack_restore(f.read())
            saved = Args(**{**checkpoint["args"], "hidden_sizes": tuple(checkpoint["args"]["hidden_sizes"])})
            eval_env = make_env(saved.env_id, eval_seed)
        except Exception as e:  # any file that is not a readable checkpoint of a usable env
            sys.exit(f"error: cannot evaluate {args.load_model}: {e}")
        actor = make_actor(eval_env, saved.hidden_sizes, saved.actor_layer_norm)
        returns = evaluate(jax.jit(partial(actor.apply, checkpoint["actor"])), eval_env, args.eval_episodes, eval_seed)
        print(f"{saved.env_id}: eval episodic returns {[round(r, 2) for r in returns]}")
        print(f"mean {np.mean(returns):.2f} +- {np.std(returns):.2f} over {len(returns)} episodes")
        sys.exit(0)

    run_name = f"{args.env_id}__{args.exp_name}__{args.seed}__{int(time.time())}"
    run_dir = os.path.join("runs", run_name)
    if os.path.exists(run_dir):
        sys.exit(f"error: {run_dir} already exists; wait a second or change --exp-name or --seed")
    try:
        env = make_env(args.env_id, args.seed, args.capture_video, os.path.join(run_dir, "videos"))
        eval_env = make_env(args.env_id, eval_seed)
    except (ValueError, ImportError, gym.error.Error) as e:
        sys.exit(f"error: --env-id {args.env_id}: {e}")

    if args.track:
        import wandb

        wandb.init(project=args.wandb_project_name, entity=args.wandb_entity, name=run_name, config=asdict(args),
                   sync_tensorboard=True, save_code=True)  # fmt: skip
    writer = SummaryWriter(run_dir)
    table = "\n".join(f"|{key}|{value}|" for key, value in asdict(args).items())
    writer.add_text("hyperparameters", f"|param|value|\n|-|-|\n{table}")

    actor = make_actor(env, args.hidden_sizes, args.actor_layer_norm, args.final_layer_init)
    qf1 = QNetwork(args.hidden_sizes, args.critic_layer_norm, args.final_layer_init, args.critic_action_layer)
    obs, _ = env.reset(seed=args.seed)
    key, actor_key, qf1_key = jax.random.split(key, 3)
    actor_params = actor.init(actor_key, obs.astype(np.float32))
    qf1_params = qf1.init(qf1_key, obs.astype(np.float32), env.action_space.sample())
    critic_learning_rate = args.critic_learning_rate or args.learning_rate
    actor_optimizer = optax.adam(args.learning_rate)
    q_optimizer = optax.chain(optax.add_decayed_weights(args.critic_weight_decay), optax.adam(critic_learning_rate))
    state = {"actor_params": actor_params, "qf1_params": qf1_params, "actor_target_params": actor_params,
             "qf1_target_params": qf1_params, "actor_opt_state": actor_optimizer.init(actor_params),
             "q_opt_state": q_optimizer.init(qf1_params)}  # fmt: skip
    actor_apply, qf1_apply = jax.jit(actor.apply), jax.jit(qf1.apply)
    action_scale = np.float32((env.action_space.high - env.action_space.low) / 2)
    noise_rng = np.random.default_rng(args.seed)
    ou_noise = np.zeros_like(action_scale)
    if args.exploration_noise_type == "param":
        key, perturb_key = jax.random.split(key)
        param_noise_std = 0.1  # the initial scale; it adapts from there
        perturbed_params = perturb_actor(state["actor_params"], param_noise_std, perturb_key)

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

    rb = ReplayBuffer(args.buffer_size, env.observation_space.shape[0], env.action_space.shape[0], args.seed)
    # a progress bar on a terminal; plain lines every 1% of the run in Slurm and CI logs
    progress = tqdm(range(args.total_timesteps), disable=not sys.stderr.isatty(), unit="step", smoothing=0.05)
    print_every = max(args.total_timesteps // 100, 1)
    episodic_return = float("nan")  # the latest episode's, for the progress output
    start_time = time.time()
    for global_step in progress:
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
        obs = next_obs
        if terminated or truncated:
            episodic_return = float(info["episode"]["r"])
            writer.add_scalar("charts/episodic_return", episodic_return, global_step)
            writer.add_scalar("charts/episodic_length", info["episode"]["l"], global_step)
            progress.set_postfix(episodic_return=f"{episodic_return:.1f}", refresh=False)
            obs, _ = env.reset()
            ou_noise = np.zeros_like(action_scale)
            if args.exploration_noise_type == "param":
                key, perturb_key = jax.random.split(key)
                perturbed_params = perturb_actor(state["actor_params"], param_noise_std, perturb_key)

        if global_step > args.learning_starts:
            with_actor = global_step % args.policy_frequency == 0
            batch = rb.sample(args.batch_size)
            state, metrics = update(state, batch, with_actor)
            if with_actor and global_step % 100 < args.policy_frequency:  # once per 100 steps, whatever the frequency
                writer.add_scalar("losses/actor_loss", float(metrics["actor_loss"]), global_step)

            if global_step % 100 == 0:
                writer.add_scalar("losses/qf1_loss", float(metrics["qf1_loss"]), global_step)
                writer.add_scalar("losses/qf1_values", float(metrics["qf1_values"]), global_step)
                writer.add_scalar("losses/td_target", float(metrics["td_target"]), global_step)
                writer.add_scalar("charts/SPS", int(global_step / (time.time() - start_time)), global_step)

            if args.exploration_noise_type == "param" and global_step % 50 == 0:  # Plappert et al. adapt every 50
                key, perturb_key = jax.random.split(key)
                adaptive_params = perturb_actor(state["actor_params"], param_noise_std, perturb_key)
                clean, perturbed = actor_apply(state["actor_params"], batch[0]), actor_apply(adaptive_params, batch[0])
                distance = float(jnp.sqrt(jnp.mean(((clean - perturbed) / action_scale) ** 2)))
                param_noise_std = adapt_param_noise(param_noise_std, distance, args.param_noise_target)
                if global_step % 100 == 0:
                    writer.add_scalar("charts/param_noise_std", param_noise_std, global_step)
                    writer.add_scalar("charts/param_noise_distance", distance, global_step)

        if args.diagnostics_frequency and global_step >= args.learning_starts:
            if global_step == args.learning_starts:  # probe states drawn once, to follow the same states over training
                probe_obs = rb.sample(256)[0]
                probe_actions = np.asarray(actor_apply(state["actor_params"], probe_obs))
            if (global_step + 1) % args.diagnostics_frequency == 0:
                actions = np.asarray(actor_apply(state["actor_params"], probe_obs))
                probe_q = np.asarray(qf1_apply(state["qf1_params"], probe_obs, actions))
                drift = float(np.mean(np.abs(actions - probe_actions) / action_scale))
                writer.add_histogram("diagnostics/probe_actions", actions, global_step + 1)
                writer.add_histogram("diagnostics/probe_q_values", probe_q, global_step + 1)
                writer.add_scalar("diagnostics/probe_q_mean", float(probe_q.mean()), global_step + 1)
                writer.add_scalar("diagnostics/probe_action_drift", drift, global_step + 1)
                probe_actions = actions

        steps_done = global_step + 1
        eval_due = args.eval_frequency and steps_done % args.eval_frequency == 0
        if args.eval_episodes and (eval_due or steps_done == args.total_timesteps):
            returns = evaluate(partial(actor_apply, state["actor_params"]), eval_env, args.eval_episodes, eval_seed)
            writer.add_scalar("eval/episodic_return", np.mean(returns), steps_done)
            rounded = [round(r, 2) for r in returns]
            tqdm.write(f"step {steps_done}: eval episodic returns {rounded}; mean {np.mean(returns):.2f}")

        if progress.disable and steps_done % print_every == 0:
            sps = int(steps_done / (time.time() - start_time))
            line = f"step {steps_done}/{args.total_timesteps} | {sps} steps/s | episodic_return {episodic_return:.1f}"
            print(line, flush=True)
    progress.close()
    env.close()
    eval_env.close()

    if args.save_model:
        model_path = os.path.join(run_dir, f"{args.exp_name}.msgpack")
        saved_args = {**asdict(args), "hidden_sizes": list(args.hidden_sizes)}  # msgpack takes lists, not tuples
        checkpoint = {"actor": state["actor_params"], "qf1": state["qf1_params"], "args": saved_args}
        with open(model_path, "wb") as f:
            f.write(flax.serialization.msgpack_serialize(checkpoint))
        print(f"model saved to {model_path}; evaluate it with: python {sys.argv[0]} --load-model {model_path}")
    writer.close()
    if args.track:
        wandb.finish()

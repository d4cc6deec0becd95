# DDPG (Lillicrap et al. 2016, arXiv:1509.02971) for continuous-action Gymnasium envs, in one file: JAX (Flax + Optax).
import os
import random
import sys
import time
from dataclasses import asdict, dataclass
from functools import partial
from typing import Optional

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
    """the learning rate of both Adam optimisers"""
    buffer_size: int = 1_000_000
    """the replay buffer capacity, in transitions"""
    gamma: float = 0.99
    """the discount factor"""
    tau: float = 0.005
    """the target networks' Polyak averaging coefficient"""
    batch_size: int = 256
    """the batch size of a gradient step"""
    exploration_noise: float = 0.1
    """the std of the Gaussian exploration noise, as a fraction of the action scale"""
    learning_starts: int = 25_000
    """env steps of uniform random actions before learning starts"""
    policy_frequency: int = 2
    """update the actor and the target networks every this many critic updates"""
    eval_episodes: int = 10
    """episodes of the deterministic (noise-free) evaluation at the end of training; 0 turns it off"""


def args_error(args: Args) -> Optional[str]:
    """The first setting that makes no sense, as a line saying how to fix it; None if all is well."""
    positive = ("total_timesteps", "buffer_size", "batch_size", "policy_frequency", "learning_rate")
    for name in positive:
        if getattr(args, name) <= 0:
            return f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}"
    for name in ("learning_starts", "exploration_noise", "eval_episodes"):
        if getattr(args, name) < 0:
            return f"--{name.replace('_', '-')} must not be negative, got {getattr(args, name)}"
    if not 0.0 <= args.gamma <= 1.0:
        return f"--gamma must lie in [0, 1], got {args.gamma}"
    if not 0.0 < args.tau <= 1.0:
        return f"--tau must lie in (0, 1], got {args.tau}"
    if args.batch_size > args.buffer_size:
        return f"--batch-size ({args.batch_size}) is larger than --buffer-size ({args.buffer_size}); lower it or grow the buffer"
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


class Actor(nn.Module):
    action_low: np.ndarray
    action_high: np.ndarray

    @nn.compact
    def __call__(self, obs):
        low, high = np.asarray(self.action_low, np.float64), np.asarray(self.action_high, np.float64)
        x = nn.relu(nn.Dense(256, name="fc1")(obs))
        x = nn.relu(nn.Dense(256, name="fc2")(x))
        x = nn.Dense(low.shape[0], name="fc_mu")(x)
        # tanh maps to (-1, 1); scale and bias map that onto [low, high] per dimension (bounds may be asymmetric),
        # and the clip catches the float rounding that can land a saturated action one ulp outside
        action = jnp.tanh(x) * np.float32((high - low) / 2) + np.float32((high + low) / 2)
        return jnp.clip(action, np.float32(low), np.float32(high))


class QNetwork(nn.Module):
    @nn.compact
    def __call__(self, obs, action):
        x = nn.relu(nn.Dense(256, name="fc1")(jnp.concatenate([obs, action], -1)))
        x = nn.relu(nn.Dense(256, name="fc2")(x))
        return nn.Dense(1, name="fc3")(x).squeeze(-1)


def make_actor(env: gym.Env) -> Actor:
    return Actor(action_low=env.action_space.low, action_high=env.action_space.high)


def td_target(rewards, terminations, next_obs, target_actor, qf1_target, gamma: float):
    """y = r + gamma * (1 - terminated) * Q'(s', mu'(s')): only a true termination stops bootstrapping."""
    next_q = qf1_target(next_obs, target_actor(next_obs))
    return jax.lax.stop_gradient(rewards + gamma * (1.0 - terminations) * next_q)


def critic_loss(qf1_params, qf1: QNetwork, obs, actions, target):
    """Mean squared error of Q(s, a) against the TD target, and Q(s, a)."""
    qf1_a_values = qf1.apply(qf1_params, obs, actions)
    return ((qf1_a_values - target) ** 2).mean(), qf1_a_values


def actor_loss(actor_params, actor: Actor, qf1: QNetwork, qf1_params, obs):
    """-mean Q(s, mu(s)): the actor climbs the critic."""
    return -qf1.apply(qf1_params, obs, actor.apply(actor_params, obs)).mean()


def soft_update(target_params, params, tau: float):
    """Polyak averaging: target <- tau * params + (1 - tau) * target."""
    return optax.incremental_update(params, target_params, tau)


def update_critic(state: dict, batch, actor: Actor, qf1: QNetwork, q_optimizer, gamma: float):
    """One Adam step on the critic; returns the new state, the loss and Q(s, a)."""
    obs, actions, rewards, next_obs, terminations = batch
    target_actor = partial(actor.apply, state["actor_target_params"])
    qf1_target = partial(qf1.apply, state["qf1_target_params"])
    target = td_target(rewards, terminations, next_obs, target_actor, qf1_target, gamma)
    grad_fn = jax.value_and_grad(critic_loss, has_aux=True)
    (qf1_loss, qf1_a_values), grads = grad_fn(state["qf1_params"], qf1, obs, actions, target)
    updates, q_opt_state = q_optimizer.update(grads, state["q_opt_state"])
    qf1_params = optax.apply_updates(state["qf1_params"], updates)
    return {**state, "qf1_params": qf1_params, "q_opt_state": q_opt_state}, qf1_loss, qf1_a_values


def update_actor(state: dict, obs, actor: Actor, qf1: QNetwork, actor_optimizer):
    """One Adam step on the actor; returns the new state and the loss."""
    loss, grads = jax.value_and_grad(actor_loss)(state["actor_params"], actor, qf1, state["qf1_params"], obs)
    updates, actor_opt_state = actor_optimizer.update(grads, state["actor_opt_state"])
    actor_params = optax.apply_updates(state["actor_params"], updates)
    return {**state, "actor_params": actor_params, "actor_opt_state": actor_opt_state}, loss


def evaluate(actor_fn, env: gym.Env, episodes: int, seed: int) -> list:
    """Returns of `episodes` episodes with the noise-free actor; the seeded first reset makes it repeatable."""
    returns = []
    obs, _ = env.reset(seed=seed)
    while len(returns) < episodes:
        obs, _, terminated, truncated, info = env.step(np.asarray(actor_fn(obs)))
        if terminated or truncated:
            returns.append(float(info["episode"]["r"]))
            obs, _ = env.reset()
    return returns


if __name__ == "__main__":
    args = tyro.cli(Args)
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
            eval_env = make_env(checkpoint["args"]["env_id"], eval_seed)
        except Exception as e:  # any file that is not a readable checkpoint of a usable env
            sys.exit(f"error: cannot evaluate {args.load_model}: {e}")
        actor = make_actor(eval_env)
        returns = evaluate(jax.jit(partial(actor.apply, checkpoint["actor"])), eval_env, args.eval_episodes, eval_seed)
        print(f"{checkpoint['args']['env_id']}: eval episodic returns {[round(r, 2) for r in returns]}")
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

        wandb.init(
            project=args.wandb_project_name,
            entity=args.wandb_entity,
            sync_tensorboard=True,
            config=asdict(args),
            name=run_name,
            save_code=True,
        )
    writer = SummaryWriter(run_dir)
    writer.add_text(
        "hyperparameters",
        "|param|value|\n|-|-|\n" + "\n".join(f"|{key}|{value}|" for key, value in asdict(args).items()),
    )

    actor = make_actor(env)
    qf1 = QNetwork()
    obs, _ = env.reset(seed=args.seed)
    key, actor_key, qf1_key = jax.random.split(key, 3)
    actor_params = actor.init(actor_key, obs.astype(np.float32))
    qf1_params = qf1.init(qf1_key, obs.astype(np.float32), env.action_space.sample())
    actor_optimizer = optax.adam(args.learning_rate)
    q_optimizer = optax.adam(args.learning_rate)
    state = {
        "actor_params": actor_params,
        "qf1_params": qf1_params,
        "actor_target_params": actor_params,
        "qf1_target_params": qf1_params,
        "actor_opt_state": actor_optimizer.init(actor_params),
        "q_opt_state": q_optimizer.init(qf1_params),
    }
    exploration_std = np.float32((env.action_space.high - env.action_space.low) / 2 * args.exploration_noise)

    @jax.jit
    def explore(actor_params, obs, key):
        key, noise_key = jax.random.split(key)
        action = actor.apply(actor_params, obs)
        action = action + jax.random.normal(noise_key, action.shape) * exploration_std
        return jnp.clip(action, env.action_space.low, env.action_space.high), key

    # One compiled call per gradient step: the critic update, then (every policy_frequency-th step) the actor
    # update and the soft updates. `with_actor` is static, so there are exactly two compiled versions.
    @partial(jax.jit, static_argnames="with_actor")
    def update(state, batch, with_actor: bool):
        state, qf1_loss, qf1_a_values = update_critic(state, batch, actor, qf1, q_optimizer, args.gamma)
        metrics = {"qf1_loss": qf1_loss, "qf1_values": qf1_a_values.mean()}
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
            action, key = explore(state["actor_params"], obs.astype(np.float32), key)
            action = np.asarray(action)

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

        if global_step > args.learning_starts:
            with_actor = global_step % args.policy_frequency == 0
            state, metrics = update(state, rb.sample(args.batch_size), with_actor)
            if global_step % 100 == 0:
                writer.add_scalar("losses/qf1_loss", float(metrics["qf1_loss"]), global_step)
                writer.add_scalar("losses/qf1_values", float(metrics["qf1_values"]), global_step)
                writer.add_scalar("charts/SPS", int(global_step / (time.time() - start_time)), global_step)
            if with_actor and global_step % 100 < args.policy_frequency:  # once per 100 steps, whatever the frequency
                writer.add_scalar("losses/actor_loss", float(metrics["actor_loss"]), global_step)

        if progress.disable and (global_step + 1) % print_every == 0:
            sps = int((global_step + 1) / (time.time() - start_time))
            print(
                f"step {global_step + 1}/{args.total_timesteps} | {sps} steps/s | episodic_return {episodic_return:.1f}",
                flush=True,
            )
    progress.close()
    env.close()

    if args.save_model:
        model_path = os.path.join(run_dir, f"{args.exp_name}.msgpack")
        checkpoint = {"actor": state["actor_params"], "qf1": state["qf1_params"], "args": asdict(args)}
        with open(model_path, "wb") as f:
            f.write(flax.serialization.msgpack_serialize(checkpoint))
        print(f"model saved to {model_path}; evaluate it with: python {sys.argv[0]} --load-model {model_path}")

    if args.eval_episodes > 0:
        returns = evaluate(jax.jit(partial(actor.apply, state["actor_params"])), eval_env, args.eval_episodes, eval_seed)
        writer.add_scalar("eval/episodic_return", np.mean(returns), args.total_timesteps)
        print(f"eval episodic returns {[round(r, 2) for r in returns]}; mean {np.mean(returns):.2f}")
    eval_env.close()
    writer.close()
    if args.track:
        wandb.finish()

"""DDPG (Lillicrap et al. 2016, arXiv:1509.02971) for continuous-action Gymnasium envs, in one file: JAX (Flax + Optax).

What `train` does:
  1. Make the env (`make_env`), an actor mu and a critic Q (`Actor`, `QNetwork`, drawn by `init_params`), target
     copies mu' and Q' of both, an Adam optimiser for each network, and a replay buffer (`ReplayBuffer`).
  2. Every env step: act uniformly at random for the first `learning_starts` steps, then with mu(s) plus
     exploration noise, clipped to the action bounds; step the env; store (s, a, r, s', terminated, truncated).
  3. Once learning has started, every env step: sample a batch and move Q towards the TD target
     y = r + gamma * (1 - terminated) * Q'(s', mu'(s')) (`compute_td_target`, `update_critic`); every
     `policy_frequency` steps, move mu up Q(s, mu(s)) (`update_actor`) and Polyak-average mu' and Q' towards mu
     and Q (`soft_update`). The three are one compiled call per env step (`make_update`).
(--normalize-observations: mu and Q see observations normalised by running statistics, `normalize_obs`.)
(--n-step n: the target sums up to n rewards before it bootstraps, `n_step_transitions`.)
Below `train`: research options (the `--paper` preset, OU and parameter noise, observation normalisation, probe
diagnostics, evaluation), then an appendix of run machinery (checks, checkpoints and resume, `--load-model`,
progress output). DDPG does not depend on either: a reader who stops at the first banner has read all of it.
"""

import errno
import fcntl
import importlib.metadata
import json
import logging
import math
import os
import platform
import re
import shutil
import signal
import socket
import sys
import time
import zipfile
from dataclasses import asdict, dataclass, replace
from functools import partial
from typing import Literal, Optional, Tuple

import flax.linen as nn
import flax.serialization
import flax.traverse_util
import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import optax
import psutil
import tyro
from gymnasium.wrappers.utils import RunningMeanStd
from tensorboardX import SummaryWriter
from tqdm import tqdm


@dataclass
class Args:
    # the algorithm
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
    exploration_noise: float = 0.1
    """the std of the Gaussian exploration noise, as a fraction of the action scale"""
    hidden_sizes: Tuple[int, int] = (256, 256)
    """the widths of the two hidden layers of the actor and the critic"""
    seed: int = 1
    """seed of the experiment (envs, networks, buffer sampling, exploration)"""
    # research options
    exploration_noise_type: Literal["gaussian", "ou", "param"] = "gaussian"
    """gaussian: N(0, exploration_noise) actions; ou: Ornstein-Uhlenbeck actions; param: adaptive parameter noise"""
    ou_theta: float = 0.15
    """the OU noise's mean reversion per step"""
    ou_sigma: float = 0.2
    """the OU noise's std per step, as a fraction of the action scale"""
    param_noise_target: float = 0.2
    """param noise: the action-space distance (a fraction of the action scale) the perturbation scale adapts to"""
    actor_layer_norm: bool = False
    """if toggled, LayerNorm after each hidden layer of the actor (always on with param noise)"""
    critic_layer_norm: bool = False
    """if toggled, LayerNorm after each hidden layer of the critic"""
    normalize_observations: bool = False
    """if toggled, the networks see observations standardised by running statistics, clipped to +-observation_clip"""
    observation_clip: float = 5.0
    """with --normalize-observations: the bound of a normalised observation (Baselines: 5)"""
    n_step: int = 1
    """the TD target's horizon: up to n discounted rewards, then Q'; a window ends with its episode (1: DDPG's)"""
    critic_action_layer: Literal[1, 2] = 1
    """the critic layer the action enters: 1 (with the observation) or 2 (Lillicrap et al.)"""
    final_layer_init: Optional[float] = None
    """if set, the output layers' weights and biases start uniform in [-x, x] (Lillicrap et al.: 3e-3)"""
    critic_learning_rate: Optional[float] = None
    """the critic's learning rate; None uses --learning-rate"""
    critic_weight_decay: float = 0.0
    """L2 weight decay on the critic"""
    paper: bool = False
    """Lillicrap et al. 2016's nets, init, lrs, L2, batch, tau, OU noise, and policy-frequency 1, learning-starts 0"""
    eval_frequency: int = 5_000
    """evaluate the noise-free actor every this many steps (Fujimoto et al.); 0: only at the end"""
    eval_episodes: int = 10
    """episodes of each deterministic evaluation, on an env instance of its own; 0 turns evaluation off"""
    diagnostics_frequency: int = 5_000
    """log the actor's actions and Q-values on fixed probe states from the buffer every this many steps; 0: never"""
    # the run
    exp_name: str = os.path.basename(__file__)[: -len(".py")]
    """the name of this experiment (part of the run name)"""
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
    checkpoint_frequency: int = 0
    """checkpoint at the first episode end after every this many steps, and on SIGTERM or SIGUSR1 (exit 75); 0: none"""
    resume: Optional[str] = None
    """a run directory to continue from its checkpoint, with the run's own settings (--total-timesteps may be raised)"""


def make_env(env_id: str, seed: int, capture_video: bool = False, video_folder: str = "videos", episodes=0,
             obs_rms=None) -> gym.Env:
    """One env with episode statistics (and videos), `episodes` into a run; ValueError if DDPG cannot act in it.
    With `obs_rms` (--normalize-observations), every observation the env returns updates those statistics."""
    env = gym.make(env_id, render_mode="rgb_array" if capture_video else None)
    if not isinstance(env.action_space, gym.spaces.Box):
        raise ValueError(f"{env_id} has a {env.action_space} action space; DDPG needs continuous (Box) actions")
    if not isinstance(env.observation_space, gym.spaces.Box) or len(env.observation_space.shape) != 1:
        raise ValueError(f"{env_id} has a {env.observation_space} observation space; this script needs a flat Box")
    if not (np.isfinite(env.action_space.low).all() and np.isfinite(env.action_space.high).all()):
        raise ValueError(f"{env_id} has unbounded actions ({env.action_space}); the actor's tanh needs finite bounds")
    env.reset(seed=seed)  # seeds the env's generator, from which every later reset draws (a checkpoint saves it)
    if obs_rms is not None:
        env = gym.wrappers.TransformObservation(env, partial(count_observation, obs_rms), env.observation_space)
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
        self.truncations = np.full(capacity, 0.0, dtype=np.float32)  # where an n-step window ends (--n-step)
        self.rng = np.random.default_rng(seed)

    def add(self, obs, next_obs, action, reward, terminated, truncated):
        self.obs[self.pos], self.next_obs[self.pos], self.actions[self.pos] = obs, next_obs, action
        self.rewards[self.pos], self.terminations[self.pos], self.truncations[self.pos] = reward, terminated, truncated
        self.pos = (self.pos + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, batch_size: int, n_step: int, gamma: float):
        """A uniform batch of (s, a, r, s', terminated, discount = gamma); with n_step > 1, of n-step windows."""
        idx = self.rng.integers(0, self.size, batch_size)
        if n_step > 1:
            return n_step_transitions(self, idx, n_step, gamma)
        transitions = self.obs[idx], self.actions[idx], self.rewards[idx], self.next_obs[idx], self.terminations[idx]
        return *transitions, np.full(batch_size, gamma, dtype=np.float32)


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
    same numbers in the same order, so that one seed gives both scripts the same networks. Returns the params
    (`inputs` give their shapes): a Flax module holds no weights of its own."""
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


def compute_td_target(rewards, terminations, next_obs, discounts, actor_target, qf1_target):
    """y = r + gamma * (1 - terminated) * Q'(s', mu'(s')), the discount being gamma: only a true termination stops
    bootstrapping. For an n-step window (`n_step_transitions`), r, s', terminated and the discount are the window's."""
    next_q = qf1_target(next_obs, actor_target(next_obs))
    return jax.lax.stop_gradient(rewards + discounts * (1.0 - terminations) * next_q)


def n_step_transitions(rb: ReplayBuffer, idx: np.ndarray, n_step: int, gamma: float) -> tuple:
    """--n-step: from each sampled step t, a window of its next k <= n transitions, which ends at the first that ends
    its episode and never passes the newest. Returned in the 1-step batch's shape, so that `compute_td_target` gives
    y = r_t + gamma r_t+1 + ... + gamma^(k-1) r_t+k-1 + gamma^k (1 - terminated_t+k-1) Q'(s_t+k, mu'(s_t+k)): after a
    truncation it bootstraps from the episode's real final observation, as the 1-step target does. n = 1: y is it."""
    written = (rb.pos - 1 - idx) % rb.capacity + 1  # transitions from t to the newest, in order (rb.size if not full)
    offsets = np.minimum(np.arange(n_step), written[:, None] - 1)  # a window never reads past the newest
    steps = (idx[:, None] + offsets) % rb.capacity  # (batch, n): the window's buffer rows, wrapping round the ring
    ends = (rb.terminations[steps] + rb.truncations[steps]) > 0
    lengths = np.minimum(np.where(ends.any(1), ends.argmax(1) + 1, n_step), written)  # k: up to the first end
    in_window = np.arange(n_step) < lengths[:, None]
    rewards = (rb.rewards[steps] * gamma ** np.arange(n_step) * in_window).sum(1).astype(np.float32)
    last = steps[np.arange(len(idx)), lengths - 1]
    discounts = (gamma**lengths).astype(np.float32)
    return rb.obs[idx], rb.actions[idx], rewards, rb.next_obs[last], rb.terminations[last], discounts


def critic_loss(qf1_params, qf1: QNetwork, obs, actions, td_target):
    """Mean squared error of Q(s, a) against the TD target, and Q(s, a)."""
    qf1_a_values = qf1.apply(qf1_params, obs, actions)
    return ((qf1_a_values - td_target) ** 2).mean(), qf1_a_values


def actor_loss(actor_params, actor: Actor, qf1: QNetwork, qf1_params, obs):
    """-mean Q(s, mu(s)): the actor climbs the critic."""
    return -qf1.apply(qf1_params, obs, actor.apply(actor_params, obs)).mean()


# In JAX, parameters and optimiser states are values, not attributes of the networks: each update takes them in
# `state` (after the arguments the PyTorch script's update takes) and returns the new state before its results.
def update_critic(qf1: QNetwork, q_optimizer, actor_target, qf1_target, batch, state: dict):
    """One Adam step on the critic's squared error to the TD target; returns the new state, loss, Q(s, a), target."""
    obs, actions, rewards, next_obs, terminations, discounts = batch
    td_target = compute_td_target(rewards, terminations, next_obs, discounts, actor_target, qf1_target)
    grad_fn = jax.value_and_grad(critic_loss, has_aux=True)
    (qf1_loss, qf1_a_values), grads = grad_fn(state["qf1_params"], qf1, obs, actions, td_target)
    updates, q_opt_state = q_optimizer.update(grads, state["q_opt_state"], state["qf1_params"])
    qf1_params = optax.apply_updates(state["qf1_params"], updates)
    return {**state, "qf1_params": qf1_params, "q_opt_state": q_opt_state}, qf1_loss, qf1_a_values, td_target


def update_actor(actor: Actor, actor_optimizer, qf1: QNetwork, obs, state: dict):
    """One Adam step on the actor towards higher Q(s, mu(s)); only the actor's params move. Returns the new state
    and the loss."""
    loss, grads = jax.value_and_grad(actor_loss)(state["actor_params"], actor, qf1, state["qf1_params"], obs)
    updates, actor_opt_state = actor_optimizer.update(grads, state["actor_opt_state"])
    actor_params = optax.apply_updates(state["actor_params"], updates)
    return {**state, "actor_params": actor_params, "actor_opt_state": actor_opt_state}, loss


def soft_update(target_params, params, tau: float):
    """Polyak averaging: target <- tau * params + (1 - tau) * target."""
    return optax.incremental_update(params, target_params, tau)


def make_update(actor: Actor, qf1: QNetwork, actor_optimizer, q_optimizer, tau: float):
    """One compiled call per gradient step: the critic update, then (every policy_frequency-th step) the actor
    update and the soft updates. `with_actor` is static, so there are exactly two compiled versions."""

    @partial(jax.jit, static_argnames="with_actor")
    def update(state: dict, batch, with_actor: bool):
        actor_target = partial(actor.apply, state["actor_target_params"])
        qf1_target = partial(qf1.apply, state["qf1_target_params"])
        state, qf1_loss, qf1_a_values, td_target = update_critic(
            qf1, q_optimizer, actor_target, qf1_target, batch, state
        )
        metrics = {"qf1_loss": qf1_loss, "qf1_values": qf1_a_values.mean(), "td_target": td_target.mean()}
        if with_actor:
            state, metrics["actor_loss"] = update_actor(actor, actor_optimizer, qf1, batch[0], state)
            state["actor_target_params"] = soft_update(state["actor_target_params"], state["actor_params"], tau)
            state["qf1_target_params"] = soft_update(state["qf1_target_params"], state["qf1_params"], tau)
        return state, metrics

    return update


def train(args: Args, checkpoint: Optional[dict] = None) -> dict:
    """DDPG for args.total_timesteps env steps (from a checkpoint's step when given); returns what the run built."""
    # on recent GPUs XLA multiplies float32 matrices in TF32 (10-bit mantissa) unless told otherwise, and PyTorch does
    # not: full float32 in both, so that one seed gives both scripts one run there too (no effect on a CPU)
    jax.config.update("jax_default_matmul_precision", "float32")
    # one numpy generator per use, drawn in the same order in both scripts: one seed gives both scripts one run
    init_seed, noise_seed, buffer_seed = np.random.SeedSequence(args.seed).spawn(3)
    run = open_run(args, checkpoint)  # appendix: every check, then the run directory, its log and the eval env
    env = make_env(args.env_id, args.seed, args.capture_video, os.path.join(run["dir"], "videos"), run["episodes"],
                   run["obs_rms"])  # fmt: skip

    init_rng = np.random.default_rng(init_seed)
    actor = make_actor(env, args.hidden_sizes, actor_layer_norm(args))
    qf1 = QNetwork(args.hidden_sizes, args.critic_layer_norm, args.critic_action_layer)
    obs_zeros, action_zeros = np.zeros(env.observation_space.shape), np.zeros(env.action_space.shape)  # for shapes
    actor_params = init_params(actor, init_rng, args.final_layer_init, obs_zeros)
    qf1_params = init_params(qf1, init_rng, args.final_layer_init, obs_zeros, action_zeros)
    q_optimizer = optax.chain(optax.add_decayed_weights(args.critic_weight_decay),
                              optax.adam(args.critic_learning_rate or args.learning_rate))  # fmt: skip
    actor_optimizer = optax.adam(args.learning_rate)
    state = {"actor_params": actor_params, "qf1_params": qf1_params, "actor_target_params": actor_params,
             "qf1_target_params": qf1_params, "actor_opt_state": actor_optimizer.init(actor_params),
             "q_opt_state": q_optimizer.init(qf1_params)}  # fmt: skip
    update = make_update(actor, qf1, actor_optimizer, q_optimizer, args.tau)
    actor_apply, qf1_apply = jax.jit(actor.apply), jax.jit(qf1.apply)
    rb = ReplayBuffer(args.buffer_size, env.observation_space.shape[0], env.action_space.shape[0], buffer_seed)
    action_scale = np.float32((env.action_space.high - env.action_space.low) / 2)
    noise_rng = np.random.default_rng(noise_seed)
    param_noise_std = 0.1  # param noise's initial scale; it adapts from there
    probes = {"obs": None, "actions": None}  # probe diagnostics: fixed states, and the actions last seen on them

    rngs = {"env": env.np_random, "action_space": env.action_space.np_random, "noise": noise_rng, "buffer": rb.rng}
    if checkpoint:
        state, saved = restore_checkpoint(checkpoint, state, rngs, rb)
        param_noise_std, run["episodic_return"] = saved["param_noise_std"], saved["episodic_return"]
        probes = {"obs": saved["probe_obs"], "actions": saved["probe_actions"]}

    episode_over = True  # each episode starts at the top of the loop, which is also where a resumed run goes on
    for global_step in run["progress"]:  # global_step: the env steps done once this one is
        if episode_over:
            obs, _ = env.reset()
            ou_noise = np.zeros_like(action_scale)
            if args.exploration_noise_type == "param":
                perturbed_params = perturb_actor(state["actor_params"], param_noise_std, noise_rng)

        if global_step <= args.learning_starts:
            action = env.action_space.sample()
        else:
            params = perturbed_params if args.exploration_noise_type == "param" else state["actor_params"]
            policy_obs = normalize_obs(obs, run["obs_rms"], args.observation_clip)
            action = np.array(actor_apply(params, policy_obs.astype(np.float32)))
            if args.exploration_noise_type == "gaussian":
                action += noise_rng.normal(0.0, args.exploration_noise * action_scale).astype(np.float32)
            elif args.exploration_noise_type == "ou":
                ou_noise = ou_step(ou_noise, args.ou_theta, args.ou_sigma, noise_rng)
                action += (ou_noise * action_scale).astype(np.float32)
            action = np.clip(action, env.action_space.low, env.action_space.high)

        next_obs, reward, terminated, truncated, info = env.step(action)
        # A single env does not autoreset, so on truncation next_obs is the episode's real final observation:
        # the TD target bootstraps from it. Only `terminated` stops bootstrapping.
        rb.add(obs, next_obs, action, reward, terminated, truncated)
        obs, episode_over = next_obs, terminated or truncated
        if episode_over:
            log_episode(run, info, global_step)

        if global_step > args.learning_starts + 1:  # the first update follows the actor's first action
            batch = rb.sample(args.batch_size, args.n_step, args.gamma)
            batch = normalize_batch(batch, run["obs_rms"], args.observation_clip)
            state, metrics = update(state, batch, global_step % args.policy_frequency == 0)  # with_actor: static
            log_losses(run, global_step, args.policy_frequency, metrics)
            if args.exploration_noise_type == "param" and global_step % 50 == 0:  # Plappert et al. adapt every 50 steps
                param_noise_std = update_param_noise(
                    run, global_step, actor_apply, state, batch[0], param_noise_std, args, noise_rng, action_scale
                )

        probe_diagnostics(run, global_step, args, actor_apply, qf1_apply, state, rb, probes, action_scale)
        evaluate_if_due(run, global_step, args, actor_apply, state["actor_params"])
        report_progress(run, global_step, args)
        if episode_over:  # between episodes: where a checkpoint is written, and a run resumes
            save_checkpoint_if_due(run, global_step, args, state, rngs, rb, {
                "episodes": env.episode_count, "param_noise_std": param_noise_std,
                "probe_obs": probes["obs"], "probe_actions": probes["actions"],
            })  # fmt: skip
        stop_if_interrupted(run, global_step, args)
    env.close()
    finish_run(run, args, state)
    return {"state": state, "actor_optimizer": actor_optimizer, "q_optimizer": q_optimizer, "update": update,
            "actor_apply": actor_apply, "rb": rb, "rngs": rngs, "obs_rms": run["obs_rms"],
            "run_dir": run["dir"]}  # fmt: skip


# ---- Research options: the --paper preset, OU and parameter noise, observation normalisation, probe diagnostics,
# ---- evaluation. DDPG above does not depend on them; with their defaults (Gaussian noise, no preset, raw
# ---- observations) a run is the plain algorithm.

# Lillicrap et al. 2016, section 7: the settings `--paper` switches on; flags given beside it still win.
PAPER = dict(
    hidden_sizes=(400, 300), critic_action_layer=2, final_layer_init=3e-3, learning_rate=1e-4,
    critic_learning_rate=1e-3, critic_weight_decay=1e-2, batch_size=64, tau=0.001, exploration_noise_type="ou",
    ou_theta=0.15, ou_sigma=0.2, policy_frequency=1, learning_starts=0,
)  # fmt: skip
# Algorithm 1 updates the critic, the actor and both targets at every step (policy_frequency 1), and acts with the
# actor plus noise from the first step (learning_starts 0: no random warm-up). Its first update is at t = 1, from a
# buffer of one transition; here, as in every setting, the first update follows the actor's first action, at step
# learning_starts + 2 = 2, and draws its 64 transitions from the first two: one update fewer in a run, not a schedule
# of its own for --paper.


def actor_layer_norm(args: Args) -> bool:
    """LayerNorm in the actor: when asked for, and always under parameter noise (Plappert et al.: it puts every
    layer on one scale, so that one perturbation scale suits them all)."""
    return args.actor_layer_norm or args.exploration_noise_type == "param"


def observation_statistics(obs_shape: tuple, state: Optional[tuple] = None) -> RunningMeanStd:
    """--normalize-observations: the running mean and variance of observations (float64), from none (count 0: the
    mean and variance of the observations counted, exactly) or from a saved (mean, var, count)."""
    obs_rms = RunningMeanStd(epsilon=0.0, shape=obs_shape)
    if state is not None:
        obs_rms.mean, obs_rms.var, obs_rms.count = (np.asarray(state[0], np.float64), np.asarray(state[1], np.float64),
                                                    float(state[2]))  # fmt: skip
    return obs_rms


def count_observation(obs_rms: RunningMeanStd, obs: np.ndarray) -> np.ndarray:
    """--normalize-observations: the training env's observation, counted in the running statistics, as it is."""
    obs_rms.update(obs[None])
    return obs


def normalize_obs(obs: np.ndarray, obs_rms, clip: float) -> np.ndarray:
    """--normalize-observations: observations as the networks see them, (obs - mean) / std with the statistics so
    far, clipped to +-clip; without it (obs_rms None), as they are. The 1e-8 only keeps a constant dimension finite:
    a barely varying one is scaled to unit std like the rest (Baselines floors the std at 0.1 instead; measured, no
    difference in returns found: benchmark/results/observation_floor)."""
    if obs_rms is None:
        return obs
    return np.clip((obs - obs_rms.mean) / np.sqrt(obs_rms.var + 1e-8), -clip, clip).astype(np.float32)


def normalize_batch(batch: tuple, obs_rms, clip: float) -> tuple:
    """A sampled batch with its observations and next observations normalised (the buffer holds them raw)."""
    if obs_rms is None:
        return batch
    obs, actions, rewards, next_obs, *rest = batch
    return normalize_obs(obs, obs_rms, clip), actions, rewards, normalize_obs(next_obs, obs_rms, clip), *rest


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


def update_param_noise(run: dict, step: int, actor_apply, state: dict, obs, std: float, args: Args, rng,
                       action_scale) -> float:
    """Perturb a fresh copy of the actor, measure how far its actions move on the batch's states (RMS, in units of
    the action scale), and return the perturbation scale adapted towards --param-noise-target."""
    adaptive_params = perturb_actor(state["actor_params"], std, rng)
    clean, perturbed = actor_apply(state["actor_params"], obs), actor_apply(adaptive_params, obs)
    distance = float(jnp.sqrt(jnp.mean(((clean - perturbed) / action_scale) ** 2)))
    std = adapt_param_noise(std, distance, args.param_noise_target)
    if step % 100 == 0:
        run["writer"].add_scalar("charts/param_noise_std", std, step)
        run["writer"].add_scalar("charts/param_noise_distance", distance, step)
    return std


PROBES = 256  # the probe states of the diagnostics


def probe_diagnostics(run: dict, step: int, args: Args, actor_apply, qf1_apply, state: dict, rb: ReplayBuffer,
                      probes: dict, action_scale):
    """Take PROBES states evenly spaced over the buffer once, when learning starts, or when the buffer first holds
    PROBES for a run that learns sooner (--paper: from the first step), so that they are different states (no random
    draw: the diagnostics never change the run); every --diagnostics-frequency steps, log the actor's actions and
    Q-values on them."""
    if not args.diagnostics_frequency:
        return
    probe_step = max(args.learning_starts + 1, PROBES)
    if step == probe_step:
        probes["obs"] = rb.obs[np.linspace(0, rb.size - 1, PROBES).astype(int)]
    if probes["obs"] is None or (step % args.diagnostics_frequency and step != probe_step):
        return
    probe_states = normalize_obs(probes["obs"], run["obs_rms"], args.observation_clip)  # as the actor sees them now
    actions = np.asarray(actor_apply(state["actor_params"], probe_states))
    probe_q = np.asarray(qf1_apply(state["qf1_params"], probe_states, actions))
    if step == probe_step:  # the first actions, against which the drift is measured
        probes["actions"] = actions
    if step % args.diagnostics_frequency:
        return
    drift = float(np.mean(np.abs(actions - probes["actions"]) / action_scale))
    run["writer"].add_histogram("diagnostics/probe_actions", actions, step)
    run["writer"].add_histogram("diagnostics/probe_q_values", probe_q, step)
    run["writer"].add_scalar("diagnostics/probe_q_mean", float(probe_q.mean()), step)
    run["writer"].add_scalar("diagnostics/probe_action_drift", drift, step)
    probes["actions"] = actions


def evaluate(actor_fn, env: gym.Env, episodes: int, seed: int, obs_rms=None, clip: float = 0.0) -> list:
    """Returns of `episodes` episodes with the noise-free actor; the seeded first reset makes it repeatable. With
    --normalize-observations, the actor sees them as in training, and they do not count in the statistics."""
    returns = []
    obs, _ = env.reset(seed=seed)
    while len(returns) < episodes:
        policy_obs = normalize_obs(obs, obs_rms, clip)
        obs, _, terminated, truncated, info = env.step(np.asarray(actor_fn(policy_obs.astype(np.float32))))
        if terminated or truncated:
            returns.append(float(info["episode"]["r"]))
            obs, _ = env.reset()
    return returns


def evaluate_if_due(run: dict, step: int, args: Args, actor_apply, actor_params):
    """Fujimoto et al.'s protocol: every --eval-frequency steps and at the end, the mean return of --eval-episodes
    episodes of the noise-free actor on an env of its own, always from the same initial states. (While a stop is
    pending, an evaluation is deferred to the resumed run: see `defer_evaluation`.)"""
    evaluate_deferred(run, step, args, actor_apply)
    due = (args.eval_frequency and step % args.eval_frequency == 0) or step == args.total_timesteps
    if args.eval_episodes and due and not defer_evaluation(run, step, args, actor_params):
        returns = evaluate(partial(actor_apply, actor_params), run["eval_env"], args.eval_episodes, run["eval_seed"],
                           run["obs_rms"], args.observation_clip)  # fmt: skip
        log_evaluation(run, step, returns)


def log_evaluation(run: dict, step: int, returns: list):
    run["writer"].add_scalar("eval/episodic_return", np.mean(returns), step)
    tqdm.write(f"step {step}: eval episodic returns {[round(r, 2) for r in returns]}; mean {np.mean(returns):.2f}")


# ---- Appendix: run machinery (argument and machine checks, the run's directory and logs, checkpoints and
# ---- resume, --load-model, progress output). The algorithm does not depend on any of it.

STOPPED = 75  # the exit code of a run stopped by a signal after saving its checkpoint (EX_TEMPFAIL)
DIVERGED = 3  # the exit code of a run whose losses, Q-values or weights are no longer finite
FAILED = 1  # the exit code of a run that cannot go on: a checkpoint it cannot write
INTERRUPTED = 130  # the exit code of a run stopped by Ctrl-C with no checkpoint to save (128 + SIGINT, as shells say)
# the layout of what a checkpoint holds, and those this script reads: 2 added the device, the deferred evaluations
# and the observation statistics, none of which a run of format 1 had (its --normalize-observations is off); 3 the
# buffer's truncations, which only --n-step reads (a run of format 1 or 2 has n-step 1)
CHECKPOINT_FORMAT, READABLE_FORMATS = 3, (1, 2, 3)
# JAX picks its device itself: nothing to compare but the device (device_warning)
DEVICE_FLAGS = ()
# what a resumed run may change: none of it changes what the run learns (the device does: see resume_error)
RESUMABLE = {"total_timesteps", "track", "wandb_project_name", "wandb_entity", "capture_video", "save_model",
             "eval_frequency", "eval_episodes", "diagnostics_frequency", "checkpoint_frequency", "resume",
             *DEVICE_FLAGS}  # fmt: skip
BUFFER_FIELDS = ("obs", "next_obs", "actions", "rewards", "terminations", "truncations")
WINDOW_BYTES = 32  # the memory an entry of a batch of n-step windows takes at its peak (measured: 30 to 37)
MACHINE_FILE = "machine.json"  # in the run directory: what decided its numbers (record_machine)
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "XLA_FLAGS")  # what sets the frameworks' threads
VECTOR_EXTENSION = re.compile(r"sse4_[12]|avx\w*|fma|amx\w*|asimd\w*|sve\w*")  # the CPU flags that change rounding


def parse_args() -> Tuple[Args, Optional[dict]]:
    """The run's arguments, checked, and the checkpoint it resumes from (None for a new run); one line and a
    non-zero exit for any that cannot work."""
    args, checkpoint = tyro.cli(Args), None
    if args.resume and not args.load_model:  # parse again with the run's own settings as defaults: flags must match
        checkpoint = load_checkpoint(args.resume)
        saved = saved_args(checkpoint)
        args = tyro.cli(Args, default=replace(saved, resume=args.resume))
        if error := resume_error(args, checkpoint):
            sys.exit(f"error: --resume {args.resume}: {error}")
        if warning := device_warning(args, checkpoint):
            print(warning, file=sys.stderr)
    elif args.paper:  # parse again with the paper's values as defaults, so that flags given beside --paper win
        args = tyro.cli(Args, default=replace(Args(), **PAPER, paper=True))
    if args.exploration_noise_type == "param":  # parsed again: the negation comes in more than one spelling
        if not tyro.cli(Args, default=replace(args, actor_layer_norm=True)).actor_layer_norm:
            sys.exit("error: --exploration-noise-type param always perturbs an actor with LayerNorm (Plappert et al.); "
                     "drop --no-actor-layer-norm")  # fmt: skip
        args = replace(args, actor_layer_norm=True)  # what a run records (saved args, TensorBoard, W&B) is what it ran
    if error := args_error(args):
        sys.exit(f"error: {error}")
    os.environ.setdefault("MUJOCO_GL", "egl")  # headless rendering for --capture-video
    return args, checkpoint


def args_error(args: Args) -> Optional[str]:
    """The first setting that makes no sense, as a line saying how to fix it; None if all is well."""
    for flag, path in (("--load-model", args.load_model), ("--resume", args.resume)):
        if path == "":
            return f"{flag} is empty (a shell variable that was never set?); give the path"
    positive = "total_timesteps buffer_size batch_size policy_frequency learning_rate param_noise_target".split()
    positive += ["observation_clip", "n_step"]
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
    if args.learning_starts + 2 > args.total_timesteps:  # the first update comes after the actor's first action
        return (
            f"--learning-starts ({args.learning_starts}) with --total-timesteps ({args.total_timesteps}): no gradient "
            f"step would run (the first is at step learning-starts + 2); lower it or train longer"
        )
    if not args.exp_name or "/" in args.exp_name or os.sep in args.exp_name:
        return f"--exp-name must be a name without '/' (it names the run directory), got {args.exp_name!r}"
    if args.load_model and args.resume:
        return "--load-model evaluates a saved model and --resume continues a run: give one of them"
    if args.load_model and not args.eval_episodes:
        return "--load-model evaluates a model over --eval-episodes episodes, and 0 evaluates nothing; give 1 or more"
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
    """The replay buffer when full (and a batch of --n-step windows) against the memory available, and with
    checkpoints on, a checkpoint against the free disk space (twice over for a new run: a checkpoint is written beside
    the last one, then replaces it). Too big: a line with both figures and the --buffer-size that fits (or, for the
    windows, the flags to lower). A tight fit: a warning, and the run goes on."""
    per_transition = 4 * (2 * env.observation_space.shape[0] + env.action_space.shape[0] + 3)  # float32 fields
    # --n-step: n_step_transitions' (batch, n) arrays, at every update; refused now, not at the first update
    windows, available = WINDOW_BYTES * args.batch_size * args.n_step * (args.n_step > 1), memory_available()
    if windows > 0.8 * available:
        return (f"--n-step {args.n_step}: a batch of {args.batch_size} windows of {args.n_step} steps takes "
                f"{windows / 2**30:.2f} GiB of memory at every update and {available / 2**30:.2f} GiB is available; "
                "lower --n-step (a window ends with its episode anyway) or --batch-size")  # fmt: skip
    needs = {"memory": (available - windows, per_transition)}
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
    if error := time_limit_error(args, env):
        return error
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


def time_limit_error(args: Args, env: gym.Env) -> Optional[str]:
    """What cannot work in an env whose episodes may never end: checkpoints (written at episode ends) and evaluation
    (of whole episodes)."""
    if env.spec.max_episode_steps is not None:
        return None
    if args.checkpoint_frequency and not args.load_model:
        return f"--checkpoint-frequency: checkpoints are written at episode ends, and {env.spec.id} has no time limit"
    if args.load_model:  # a load evaluates, and nothing else: the one fix is a time limit
        return (f"--load-model: an evaluation runs whole episodes, and {env.spec.id} has no time limit, so one may "
                "never end; register the env with max_episode_steps to evaluate its models")  # fmt: skip
    if args.eval_episodes:
        return (f"--eval-episodes: an evaluation runs whole episodes, and {env.spec.id} has no time limit, so one may "
                "never end; give --eval-episodes 0, or register the env with max_episode_steps")  # fmt: skip
    return None


def open_run(args: Args, checkpoint: Optional[dict]) -> dict:
    """Check everything the run needs before writing anything, then open its directory: the TensorBoard log (and
    W&B), the evaluation env, the signals that stop it, and its progress output. Returns the run's machinery."""
    run_dir = args.resume or os.path.join("runs", f"{args.env_id}__{args.exp_name}__{args.seed}__{int(time.time())}")
    if os.path.exists(run_dir) and not args.resume:
        sys.exit(f"error: {run_dir} already exists; wait a second or change --exp-name or --seed")
    eval_seed = args.seed + 10_000  # the evaluation env sees other initial states than the training env
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
    run = {"dir": run_dir, "eval_env": eval_env, "eval_seed": eval_seed, "start_step": start_step,
           "episodes": checkpoint["episodes"] if checkpoint else 0, "episodic_return": float("nan"),
           "wandb_id": checkpoint["wandb_id"] if checkpoint else None, "wandb_run": None, "stop_signals": [],
           "deferred_evaluations": checkpoint.get("deferred_evaluations", []) if checkpoint else [],
           "obs_rms": saved_statistics(args, eval_env, checkpoint or {}),
           "lock": lock_run_dir(run_dir, new=not checkpoint)}  # fmt: skip
    if args.track:
        import wandb

        run["wandb_run"] = wandb.init(project=args.wandb_project_name, entity=args.wandb_entity,
                                      name=os.path.basename(os.path.normpath(run_dir)), config=asdict(args),
                                      sync_tensorboard=True, save_code=True, id=run["wandb_id"],
                                      resume="allow")  # fmt: skip
        run["wandb_id"] = run["wandb_run"].id  # saved in checkpoints: a resumed run goes on in the same W&B run
    # tensorboardX warns at every non-finite value it logs; a run that diverges stops with one line instead
    logging.getLogger("tensorboardX.x2num").setLevel(logging.ERROR)
    # a resumed run hides what a killed run logged after its checkpoint: TensorBoard drops steps >= purge_step
    run["writer"] = SummaryWriter(run_dir, purge_step=start_step + 1 if checkpoint else None)
    if not checkpoint:
        table = "\n".join(f"|{key}|{value}|" for key, value in asdict(args).items())
        run["writer"].add_text("hyperparameters", f"|param|value|\n|-|-|\n{table}")
    else:
        print(f"resuming {run_dir} at step {start_step} of {args.total_timesteps}", flush=True)
    record_machine(run, args)
    # Ctrl-C, and with checkpoints SIGTERM (preemption) and SIGUSR1 (Slurm's --signal), ask the run to stop
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1) if args.checkpoint_frequency else (signal.SIGINT,):
        signal.signal(signum, lambda signum, frame: ask_to_stop(run, signum))
    run["last_checkpoint"] = start_step
    # a progress bar on a terminal; plain lines every 1% of the run in Slurm and CI logs
    steps = range(start_step + 1, args.total_timesteps + 1)
    run["progress"] = tqdm(steps, initial=start_step, total=args.total_timesteps, disable=not sys.stderr.isatty(),
                           unit="step", smoothing=0.05)  # fmt: skip
    run["start_time"] = time.time()
    return run


def record_machine(run: dict, args: Args):
    """Record what decides a run's numbers besides its arguments and seed (threads, CPU, versions: the same seed
    gives other numbers when one of them changes) in the run directory, where it reads without the script
    (machine.json: one entry per start of the process, as a resumed run may go on elsewhere), and in TensorBoard
    (the text `machine`, at the step the process starts from)."""
    path = os.path.join(run["dir"], MACHINE_FILE)
    record = {"start_step": run["start_step"], **machine(args)}
    starts = []
    if os.path.exists(path):
        try:
            with open(path) as f:
                starts = json.load(f)["starts"]
        except (ValueError, KeyError, TypeError):  # edited by hand: kept aside, not lost
            os.replace(path, path + ".unreadable")
            print(f"warning: {path} was not a list of starts; kept as {path}.unreadable", file=sys.stderr)
    with open(path + ".new", "w") as f:
        json.dump({"starts": [*starts, record]}, f, indent=1)
    os.replace(path + ".new", path)  # all or nothing: a reader never sees half a file
    table = "\n".join(f"|{key}|{value}|" for key, value in record.items())
    run["writer"].add_text("machine", f"|what|value|\n|-|-|\n{table}", run["start_step"])


def machine(args: Args) -> dict:
    """This process's machine as it decides the numbers: host, CPU and its vector extensions (x86 and Arm round
    differently with and without AVX-512, say), the cores it may use, the device, the threads in force and the
    variables that set them (None: unset), and the versions of what computes."""
    model, extensions = cpu_description()
    versions = {"python": platform.python_version(), "numpy": np.__version__, "gymnasium": gym.__version__}
    versions["mujoco"] = package_version("mujoco")
    return {"time": time.strftime("%Y-%m-%d %H:%M:%S %z"), "host": socket.gethostname(), "cpu": model,
            "vector_extensions": extensions, "cores_usable": len(usable_cores()), "cores": os.cpu_count(),
            "device": device_name(args), "threads": framework_threads(),
            "thread_variables": {name: os.environ.get(name) for name in THREAD_VARIABLES},
            "versions": {**versions, **framework_versions()}}  # fmt: skip


def cpu_description() -> Tuple[str, list]:
    """The CPU's model name and its vector extensions (x86's SSE4, AVX, AVX-512, FMA and AMX flags; Arm's ASIMD and
    SVE), as Linux's /proc/cpuinfo lists them; elsewhere the processor name `platform` knows, and no extensions."""
    fields = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                fields.setdefault(key.strip(), value.strip())  # the first processor's
    except OSError:
        pass
    model = fields.get("model name") or platform.processor() or platform.machine()
    flags = (fields.get("flags") or fields.get("Features") or "").split()
    return model, sorted(flag for flag in flags if VECTOR_EXTENSION.fullmatch(flag))


def usable_cores() -> set:
    """The cores this process may run on (its affinity: Slurm's and taskset's limit), or all of them."""
    return os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set(range(os.cpu_count() or 1))


def package_version(name: str) -> Optional[str]:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def framework_threads() -> dict:
    """The threads XLA computes with on the CPU: XLA_FLAGS' intra_op_parallelism_threads, or by default one per
    core this process may use (XLA reads no OMP_NUM_THREADS)."""
    given = re.search(r"intra_op_parallelism_threads=(\d+)", os.environ.get("XLA_FLAGS", ""))
    return {"xla_intra_op": int(given.group(1)) if given else len(usable_cores())}


def framework_versions() -> dict:
    return {name: importlib.metadata.version(name) for name in ("jax", "jaxlib", "flax", "optax")}


def saved_statistics(args: Args, env: gym.Env, saved: dict) -> Optional[RunningMeanStd]:
    """The observation statistics of --normalize-observations: those a checkpoint or a saved model holds (`saved`),
    or new ones; None without the option."""
    if not args.normalize_observations:
        return None
    state = (saved["obs_mean"], saved["obs_var"], saved["obs_count"]) if "obs_mean" in saved else None
    return observation_statistics(env.observation_space.shape, state)


def statistics_of(saved: dict) -> dict:
    """The observation statistics among what a checkpoint, a saved model or a deferred evaluation holds."""
    return {key: value for key, value in saved.items() if key.startswith("obs_")}


def statistics_state(obs_rms: Optional[RunningMeanStd]) -> dict:
    """What a checkpoint or a saved model holds of the observation statistics: their mean, variance and count."""
    return {} if obs_rms is None else {"obs_mean": obs_rms.mean, "obs_var": obs_rms.var, "obs_count": obs_rms.count}


def lock_run_dir(run_dir: str, new: bool):
    """Hold an OS lock on the run directory for the life of this process, so that a second process that would write
    there (a second --resume, a job submitted twice) is refused before it writes anything. fcntl.lockf takes a POSIX
    record lock: the kernel releases it however the process ends (SIGKILL too: never a stale lock), and NFS passes it
    to the server (the NLM protocol for NFSv3, NFSv4 itself), so it holds between the nodes of a cluster, where
    flock() may only lock on one node. Returns the open lock file, which the run keeps open: closing it unlocks."""
    try:
        os.makedirs(run_dir, exist_ok=not new)
    except FileExistsError:  # another run made it since the check above
        sys.exit(f"error: {run_dir} already exists; wait a second or change --exp-name or --seed")
    lock = open(os.path.join(run_dir, "lock"), "a+")
    try:
        fcntl.lockf(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        if e.errno not in (errno.EACCES, errno.EAGAIN):  # ENOLCK: a file system without locks (NFS without its lockd)
            sys.exit(f"error: cannot lock {run_dir} ({e.strerror}); run on a file system that supports fcntl locks")
        lock.seek(0)
        holder = lock.read().strip() or "another process"
        sys.exit(f"error: {run_dir} is in use by {holder}; stop that process first, or let it finish")
    lock.truncate(0)
    lock.write(f"{socket.gethostname()} pid {os.getpid()}\n")  # who holds it, for the message above
    lock.flush()
    return lock


def ask_to_stop(run: dict, signum: int):
    """A signal handler: the run stops at its next episode end with a checkpoint, or, without checkpoints, after
    this step (Ctrl-C). A second Ctrl-C stops at once, leaving the last checkpoint as it was: the interrupt carries
    the run, which `main` ends with exit_run once the stack has unwound (no writer is mid-write then)."""
    if signum == signal.SIGINT and signal.SIGINT in run["stop_signals"]:
        raise KeyboardInterrupt(run)
    run["stop_signals"].append(signum)


def stop_if_interrupted(run: dict, step: int, args: Args):
    """Ctrl-C on a run without checkpoints: stop after this step, with the TensorBoard log written out."""
    if run["stop_signals"] and not args.checkpoint_frequency:
        exit_run(run, INTERRUPTED, f"stopped at step {step} by Ctrl-C; its log in {run['dir']} is complete up to it "
                 "(a run without checkpoints cannot go on: --checkpoint-frequency N makes one resumable)")  # fmt: skip


def stop_diverged(run: dict, step: int, what: str):
    """Stop a run whose losses or weights are no longer finite: training on would only waste the allocation."""
    last = f"step {run['last_checkpoint']}" if run["last_checkpoint"] else "none"
    exit_run(run, DIVERGED, f"error: diverged at step {step}: {what}; lower --learning-rate and "
             f"--critic-learning-rate, or try --critic-layer-norm (last checkpoint, the last good state: {last})")


def exit_run(run: dict, code: int, message: str):
    """End a run before its last step: its TensorBoard log closed, its W&B run finished with the exit code (a run
    stopped to be resumed marked as preempted, which W&B shows apart from a crash), one line, the exit code."""
    run["writer"].close()
    if run["wandb_run"] is not None:
        if code == STOPPED:
            run["wandb_run"].mark_preempting()
        run["wandb_run"].finish(exit_code=code)
    print(message, file=sys.stdout if code == STOPPED else sys.stderr, flush=True)
    sys.exit(code)


def log_episode(run: dict, info: dict, step: int):
    run["episodic_return"] = float(info["episode"]["r"])
    run["writer"].add_scalar("charts/episodic_return", run["episodic_return"], step)
    run["writer"].add_scalar("charts/episodic_length", info["episode"]["l"], step)
    run["progress"].set_postfix(episodic_return=f"{run['episodic_return']:.1f}", refresh=False)


def log_losses(run: dict, step: int, policy_frequency: int, metrics: dict):
    """Every 100 steps: the losses, Q(s, a) and the TD target (the only host syncs of the update; the means are
    taken inside the compiled update, which returns them as `metrics`); a run whose values are no longer finite
    stops there."""
    values = {}
    if step % policy_frequency == 0 and step % 100 < policy_frequency:  # once per 100 steps, whatever the frequency
        values["losses/actor_loss"] = float(metrics["actor_loss"])
    if step % 100 == 0:
        values |= {f"losses/{name}": float(metrics[name]) for name in ("qf1_loss", "qf1_values", "td_target")}
        run["writer"].add_scalar("charts/SPS", steps_per_second(run, step), step)
    log_finite(run, step, values)


def log_finite(run: dict, step: int, values: dict):
    """Log the values; if one of them is not finite, the run has diverged: stop it."""
    for tag, value in values.items():
        run["writer"].add_scalar(tag, value, step)
    if broken := [f"{tag} is {value}" for tag, value in values.items() if not math.isfinite(value)]:
        stop_diverged(run, step, ", ".join(broken))


def report_progress(run: dict, step: int, args: Args):
    """Where there is no progress bar (Slurm, CI, nohup): a plain line every 1% of the run."""
    if run["progress"].disable and step % max(args.total_timesteps // 100, 1) == 0:
        line = f"step {step}/{args.total_timesteps} | {steps_per_second(run, step)} steps/s"
        print(f"{line} | episodic_return {run['episodic_return']:.1f}", flush=True)


def steps_per_second(run: dict, step: int) -> int:
    """Env steps per second since this process started the run (a resumed run counts from its checkpoint)."""
    return int((step - run["start_step"]) / (time.time() - run["start_time"]))


def save_checkpoint_if_due(run: dict, step: int, args: Args, state: dict, rngs: dict, rb: ReplayBuffer, loop: dict):
    """At an episode end: a checkpoint at the first one after every --checkpoint-frequency steps, or on a stop
    signal, after which the run exits with STOPPED. Weights that are no longer finite are not saved: the run stops
    as diverged."""
    every = args.checkpoint_frequency
    if not every or (step // every == run["last_checkpoint"] // every and not run["stop_signals"]):
        return
    if not all(np.isfinite(leaf).all() for leaf in jax.tree_util.tree_leaves(state)):  # keep the last good state
        stop_diverged(run, step, "the networks' weights are not finite")
    # every event up to this step on disk before the checkpoint that resumes after it: tensorboardX's flush leaves
    # events still queued for its writing thread, its close does not
    run["writer"].close()
    run_state = {"args": asdict(args), "episodic_return": run["episodic_return"], "wandb_id": run["wandb_id"],
                 "device": device_name(args), "deferred_evaluations": run["deferred_evaluations"],
                 **statistics_state(run["obs_rms"])}  # fmt: skip
    if error := save_checkpoint(run["dir"], step, state, rngs, rb, {**run_state, **loop}):
        exit_run(run, FAILED, f"error: {error}")
    run["last_checkpoint"] = step
    if run["stop_signals"] and step < args.total_timesteps:  # at the last step, the run ends as usual
        exit_run(run, STOPPED, f"stopped at step {step} (signal {run['stop_signals'][0]}), checkpoint saved; go on "
                 f"with: python {sys.argv[0]} --resume {run['dir']}")  # fmt: skip
    # the log goes on in a file of its own; TensorBoard reads files in name order, the padded step keeps two files
    # opened within one second in order
    run["writer"] = SummaryWriter(run["dir"], filename_suffix=f".{step:012d}")


def defer_evaluation(run: dict, step: int, args: Args, actor_params) -> bool:
    """While a stop is pending, an evaluation that falls due (seconds, on a long-lived env) would delay the stop past
    Slurm's grace time: the checkpoint takes a copy of the actor instead, and the resumed run evaluates that copy,
    logged at this step, which gives the numbers the evaluation would have given now. True if deferred."""
    if not (run["stop_signals"] and args.checkpoint_frequency) or step == args.total_timesteps:
        return False
    actor_state = flax.traverse_util.flatten_dict(jax.tree_util.tree_map(np.asarray, actor_params), sep="/")
    statistics = {key: np.array(value) for key, value in statistics_state(run["obs_rms"]).items()}  # as now
    run["deferred_evaluations"].append({"step": step, "actor": actor_state, **statistics})
    return True


def evaluate_deferred(run: dict, step: int, args: Args, actor_apply):
    """A resumed run's first act: the evaluations its stop deferred, of the actor as it was then (or the last act of a
    run whose stop came at its end)."""
    if not run["deferred_evaluations"] or (run["stop_signals"] and step < args.total_timesteps):
        return
    for deferred in run["deferred_evaluations"] if args.eval_episodes else []:  # --eval-episodes 0 since: none
        deferred_actor = partial(actor_apply, flax.traverse_util.unflatten_dict(deferred["actor"], sep="/"))
        obs_rms = saved_statistics(args, run["eval_env"], statistics_of(deferred))
        log_evaluation(run, deferred["step"], evaluate(deferred_actor, run["eval_env"], args.eval_episodes,
                                                       run["eval_seed"], obs_rms, args.observation_clip))
    run["deferred_evaluations"] = []


def finish_run(run: dict, args: Args, state: dict):
    """Close the run: the saved model (--save-model), the TensorBoard log, W&B."""
    run["progress"].close()
    run["eval_env"].close()
    if args.save_model:
        model_path = os.path.join(run["dir"], f"{args.exp_name}.msgpack")
        saved_args = {**asdict(args), "hidden_sizes": list(args.hidden_sizes)}  # msgpack takes lists, not tuples
        saved_model = {"actor": state["actor_params"], "qf1": state["qf1_params"], "args": saved_args,
                       **statistics_state(run["obs_rms"])}  # fmt: skip
        with open(model_path, "wb") as f:
            f.write(flax.serialization.msgpack_serialize(saved_model))
        print(f"model saved to {model_path}; evaluate it with: python {sys.argv[0]} --load-model {model_path}")
    run["writer"].close()
    if run["wandb_run"] is not None:
        run["wandb_run"].finish()


def save_checkpoint(run_dir: str, step: int, state: dict, rngs: dict, rb: ReplayBuffer, extra: dict):
    """Write the checkpoint aside, then rename it over the previous one: a kill or a full disk during the write
    leaves the previous checkpoint as it was. Returns why a write failed (the run stops with that line), or None."""
    path = os.path.join(run_dir, "checkpoint.npz")
    arrays = {jax.tree_util.keystr(key): np.asarray(leaf) for key, leaf in jax.tree_util.tree_leaves_with_path(state)}
    arrays |= {f"buffer.{name}": getattr(rb, name)[: rb.size] for name in BUFFER_FIELDS}
    arrays |= {key: value for key, value in extra.items() if isinstance(value, np.ndarray)}
    deferred = extra.get("deferred_evaluations", [])  # the actors' weights among the arrays, their steps in meta
    arrays |= {f"deferred.{i}.{name}": value for i, evaluation in enumerate(deferred)
               for name, value in [*evaluation["actor"].items(), *statistics_of(evaluation).items()]}  # fmt: skip
    meta = {
        "framework": "jax", "format_version": CHECKPOINT_FORMAT, "script": os.path.basename(__file__),
        "step": step,
        "rngs": {name: rng.bit_generator.state for name, rng in rngs.items()},
        **{key: value for key, value in extra.items()
           if not isinstance(value, np.ndarray) and key != "deferred_evaluations"},
        "deferred_evaluation_steps": [evaluation["step"] for evaluation in deferred],
    }  # fmt: skip
    try:
        with open(path + ".tmp", "wb") as f:
            np.savez(f, meta=json.dumps(meta), **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(path + ".tmp", path)
    except BaseException as e:  # a failed write, or a second Ctrl-C during it: the previous checkpoint stays
        if os.path.exists(path + ".tmp"):
            os.remove(path + ".tmp")
        if not isinstance(e, (OSError, RuntimeError)):  # a failed write: the OS's error, or the serialiser's
            raise
        then = f"the previous checkpoint is intact: free space, then --resume {run_dir}" if os.path.exists(path) else ""
        return f"cannot write a checkpoint at step {step} ({e}); {then or 'free space and start again'}"
    return None


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
    except Exception as e:  # truncated, corrupt, or not written by this script
        sys.exit(f"error: --resume {run_dir}: its checkpoint.npz is truncated or corrupt ({type(e).__name__})")
    checkpoint = checked_format(checkpoint, run_dir)
    checkpoint["args"]["hidden_sizes"] = tuple(checkpoint["args"]["hidden_sizes"])
    checkpoint["deferred_evaluations"] = []
    for i, step in enumerate(checkpoint.pop("deferred_evaluation_steps", [])):  # the actor, then its statistics
        saved = {name.split(".", 2)[2]: arrays[name] for name in arrays.files if name.startswith(f"deferred.{i}.")}
        actor_state = {name: value for name, value in saved.items() if not name.startswith("obs_")}
        checkpoint["deferred_evaluations"].append({"step": step, "actor": actor_state, **statistics_of(saved)})
    checkpoint |= {key: arrays[key] for key in ("obs_mean", "obs_var") if key in arrays.files}
    return checkpoint


def checked_format(checkpoint: dict, run_dir: str) -> dict:
    """The checkpoint, if this script reads its format; else one line saying which format and script wrote it."""
    version = checkpoint.get("format_version", 0)  # 0: written before checkpoints recorded their format
    if version not in READABLE_FORMATS:
        writer = f"{checkpoint.get('script', 'this script')} of checkpoint format {version}"
        readable = f"{READABLE_FORMATS[0]} to {READABLE_FORMATS[-1]}"
        sys.exit(f"error: --resume {run_dir}: written by {writer}, and this script reads formats {readable}; "
                 "go on with the version of the script that wrote it")  # fmt: skip
    return checkpoint


def resume_error(args: Args, checkpoint: dict) -> Optional[str]:
    """The first setting of a resumed run that differs from the run's own and would change what it learns. (A run
    that goes on on another device goes on with a warning: see parse_args.)"""
    saved, step = saved_args(checkpoint), checkpoint["step"]
    for name, value in asdict(args).items():
        if name not in RESUMABLE and value != getattr(saved, name):
            flag = f"--{name.replace('_', '-')}"
            return f"{flag} {value} differs from the run's {getattr(saved, name)}; a resumed run keeps its settings"
    if args.total_timesteps <= step:
        return f"--total-timesteps {args.total_timesteps}: the run is at step {step} already; give more to go on"
    return None


def saved_args(checkpoint: dict) -> Args:
    """A checkpoint's settings as its run ran them: a parameter-noise run written before its args recorded the
    actor's LayerNorm says actor_layer_norm=False, and had it on."""
    saved = Args(**checkpoint["args"])
    return replace(saved, actor_layer_norm=actor_layer_norm(saved))


def device_name(args: Args) -> str:
    return jax.default_backend()  # JAX runs where it is installed for: cpu, gpu or tpu


def device_warning(args: Args, checkpoint: dict) -> Optional[str]:
    """A run that trained on one device and goes on on another (a GPU job requeued onto a CPU node) goes on, but its
    numbers are no longer those it would have had: float rounding differs between devices. Checkpoints written
    before they recorded the device say nothing."""
    trained_on = checkpoint.get("device", device_name(args))
    if trained_on != device_name(args):
        return (f"warning: --resume {args.resume}: the run trained on {trained_on} and goes on on {device_name(args)} "
                f"here; it goes on, but not bit for bit as it would have on {trained_on}")  # fmt: skip
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
        if f"buffer.{name}" in arrays.files:  # formats 1 and 2 have no truncations (n-step 1 never reads them)
            stored = arrays[f"buffer.{name}"]
            getattr(rb, name)[: len(stored)] = stored
    # one transition per env step: `step` of them were added, the oldest overwritten once the buffer was full
    rb.pos, rb.size = checkpoint["step"] % rb.capacity, len(arrays["buffer.obs"])
    loop_state = {key: value for key, value in checkpoint.items() if key not in ("arrays", "rngs")}
    loop_state |= {key: arrays[key] for key in ("probe_obs", "probe_actions") if key in arrays.files}
    return state, loop_state


def evaluate_saved_model(args: Args):
    """--load-model: evaluate a saved actor as the end of its training run did (same env, same evaluation seeds)."""
    try:
        with open(args.load_model, "rb") as f:
            saved_model = flax.serialization.msgpack_restore(f.read())
        saved = Args(**{**saved_model["args"], "hidden_sizes": tuple(saved_model["args"]["hidden_sizes"])})
        actor_params = saved_model["actor"]
        statistics = statistics_of(saved_model)
    except Exception as e:  # missing, truncated or foreign: say which, and never suggest unpickling it anyway
        reason = f"not a model saved by this script's --save-model ({type(e).__name__})"
        if args.load_model.endswith(".pt"):
            reason = "a model of the PyTorch script: evaluate it with ddpg_continuous_action.py"
        reason = reason if os.path.isfile(args.load_model) else "no file"
        sys.exit(f"error: --load-model {args.load_model}: {reason}")
    jax.config.update("jax_default_matmul_precision", "float32")  # as in training
    eval_seed = saved.seed + 10_000  # the run's own, as in training
    eval_env = make_env(saved.env_id, eval_seed)
    if error := time_limit_error(args, eval_env):
        sys.exit(f"error: {error}")
    actor = make_actor(eval_env, saved.hidden_sizes, actor_layer_norm(saved))
    obs_rms = saved_statistics(saved, eval_env, statistics)  # the statistics of the end of training
    returns = evaluate(jax.jit(partial(actor.apply, actor_params)), eval_env, args.eval_episodes, eval_seed, obs_rms,
                       saved.observation_clip)  # fmt: skip
    print(f"{saved.env_id}: eval episodic returns {[round(r, 2) for r in returns]}")
    print(f"mean {np.mean(returns):.2f} +- {np.std(returns):.2f} over {len(returns)} episodes")


def main():
    """The command line: train, or evaluate a saved model. Ctrl-C before a run has started, or a second one during
    it, stops at once; a run's log is closed and its W&B run finished even then."""
    try:
        args, checkpoint = parse_args()
        evaluate_saved_model(args) if args.load_model else train(args, checkpoint)
    except KeyboardInterrupt as interrupt:
        message = "stopped at once by Ctrl-C; a checkpoint already written is intact"
        if interrupt.args:  # a second Ctrl-C during a run: ask_to_stop passed the run on
            exit_run(interrupt.args[0], INTERRUPTED, message)
        print(message, file=sys.stderr)
        sys.exit(INTERRUPTED)


if __name__ == "__main__":
    main()

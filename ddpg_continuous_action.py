# DDPG (Lillicrap et al. 2016, arXiv:1509.02971) for continuous-action Gymnasium envs, in one file.
import os
import random
import sys
import time
from dataclasses import asdict, dataclass
from typing import Optional

import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import tyro
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm


@dataclass
class Args:
    exp_name: str = os.path.basename(__file__)[: -len(".py")]
    """the name of this experiment (part of the run name)"""
    seed: int = 1
    """seed of the experiment (envs, networks, buffer sampling, exploration)"""
    torch_deterministic: bool = True
    """if toggled, `torch.backends.cudnn.deterministic=True`"""
    cuda: bool = True
    """if toggled, use the GPU when one is available"""
    track: bool = False
    """if toggled, log the run to Weights & Biases (honours WANDB_MODE=offline)"""
    wandb_project_name: str = "ddpg"
    """the Weights & Biases project"""
    wandb_entity: Optional[str] = None
    """the Weights & Biases entity (team); None uses your default"""
    capture_video: bool = False
    """if toggled, record mp4 videos of training episodes to `runs/{run_name}/videos`"""
    save_model: bool = False
    """if toggled, save the actor, the critic and these args to `runs/{run_name}/{exp_name}.pt`"""
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
    def __init__(self, env: gym.Env):
        super().__init__()
        obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
        self.fc1 = nn.Linear(obs_dim, 256)
        self.fc2 = nn.Linear(256, 256)
        self.fc_mu = nn.Linear(256, act_dim)
        low = torch.as_tensor(env.action_space.low, dtype=torch.float64)
        high = torch.as_tensor(env.action_space.high, dtype=torch.float64)
        self.register_buffer("action_scale", ((high - low) / 2).float())
        self.register_buffer("action_bias", ((high + low) / 2).float())
        self.register_buffer("action_low", low.float())
        self.register_buffer("action_high", high.float())

    def forward(self, obs):
        x = F.relu(self.fc1(obs))
        x = F.relu(self.fc2(x))
        # tanh maps to (-1, 1); scale and bias map that onto [low, high] per dimension (bounds may be asymmetric),
        # and the clamp catches the float rounding that can land a saturated action one ulp outside
        action = torch.tanh(self.fc_mu(x)) * self.action_scale + self.action_bias
        return action.clamp(self.action_low, self.action_high)


class QNetwork(nn.Module):
    def __init__(self, env: gym.Env):
        super().__init__()
        obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
        self.fc1 = nn.Linear(obs_dim + act_dim, 256)
        self.fc2 = nn.Linear(256, 256)
        self.fc3 = nn.Linear(256, 1)

    def forward(self, obs, action):
        x = F.relu(self.fc1(torch.cat([obs, action], -1)))
        x = F.relu(self.fc2(x))
        return self.fc3(x).squeeze(-1)


def td_target(rewards, terminations, next_obs, target_actor, qf1_target, gamma: float):
    """y = r + gamma * (1 - terminated) * Q'(s', mu'(s')): only a true termination stops bootstrapping."""
    with torch.no_grad():
        return rewards + gamma * (1.0 - terminations) * qf1_target(next_obs, target_actor(next_obs))


def update_critic(batch, qf1, q_optimizer, target_actor, qf1_target, gamma: float):
    """One Adam step on the critic's squared error to the TD target; returns the loss and Q(s, a) (no host sync)."""
    obs, actions, rewards, next_obs, terminations = batch
    target = td_target(rewards, terminations, next_obs, target_actor, qf1_target, gamma)
    qf1_a_values = qf1(obs, actions)
    qf1_loss = F.mse_loss(qf1_a_values, target)
    q_optimizer.zero_grad()
    qf1_loss.backward()
    q_optimizer.step()
    return qf1_loss.detach(), qf1_a_values.detach()


def update_actor(obs, actor, actor_optimizer, qf1):
    """One Adam step on the actor towards higher Q(s, mu(s)); only the actor's optimiser steps."""
    actor_loss = -qf1(obs, actor(obs)).mean()
    actor_optimizer.zero_grad()
    actor_loss.backward()
    actor_optimizer.step()
    return actor_loss.detach()


def soft_update(target: nn.Module, source: nn.Module, tau: float):
    """Polyak averaging in place: target <- tau * source + (1 - tau) * target."""
    with torch.no_grad():
        for target_param, param in zip(target.parameters(), source.parameters()):
            target_param.lerp_(param, tau)


def evaluate(actor: Actor, env: gym.Env, episodes: int, seed: int, device) -> list:
    """Returns of `episodes` episodes with the noise-free actor; the seeded first reset makes it repeatable."""
    returns = []
    obs, _ = env.reset(seed=seed)
    while len(returns) < episodes:
        with torch.no_grad():
            action = actor(torch.as_tensor(obs, dtype=torch.float32, device=device)).cpu().numpy()
        obs, _, terminated, truncated, info = env.step(action)
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
    torch.manual_seed(args.seed)
    torch.backends.cudnn.deterministic = args.torch_deterministic
    device = torch.device("cuda" if torch.cuda.is_available() and args.cuda else "cpu")
    eval_seed = args.seed + 10_000  # the evaluation env sees other initial states than the training env

    if args.load_model:
        try:
            checkpoint = torch.load(args.load_model, map_location=device)
            eval_env = make_env(checkpoint["args"]["env_id"], eval_seed)
        except Exception as e:  # any file that is not a readable checkpoint of a usable env
            sys.exit(f"error: cannot evaluate {args.load_model}: {e}")
        actor = Actor(eval_env).to(device)
        actor.load_state_dict(checkpoint["actor"])
        returns = evaluate(actor, eval_env, args.eval_episodes, eval_seed, device)
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

    actor = Actor(env).to(device)
    qf1 = QNetwork(env).to(device)
    target_actor = Actor(env).to(device)
    qf1_target = QNetwork(env).to(device)
    target_actor.load_state_dict(actor.state_dict())
    qf1_target.load_state_dict(qf1.state_dict())
    q_optimizer = torch.optim.Adam(qf1.parameters(), lr=args.learning_rate)
    actor_optimizer = torch.optim.Adam(actor.parameters(), lr=args.learning_rate)
    exploration_std = actor.action_scale * args.exploration_noise

    rb = ReplayBuffer(args.buffer_size, env.observation_space.shape[0], env.action_space.shape[0], args.seed)
    obs, _ = env.reset(seed=args.seed)
    # a progress bar on a terminal; plain lines every 1% of the run in Slurm and CI logs
    progress = tqdm(range(args.total_timesteps), disable=not sys.stderr.isatty(), unit="step", smoothing=0.05)
    print_every = max(args.total_timesteps // 100, 1)
    episodic_return = float("nan")  # the latest episode's, for the progress output
    start_time = time.time()
    for global_step in progress:
        if global_step < args.learning_starts:
            action = env.action_space.sample()
        else:
            with torch.no_grad():
                action = actor(torch.as_tensor(obs, dtype=torch.float32, device=device))
                action += torch.randn_like(action) * exploration_std
                action = action.clamp(actor.action_low, actor.action_high).cpu().numpy()

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
            batch = [torch.from_numpy(x).to(device) for x in rb.sample(args.batch_size)]
            qf1_loss, qf1_a_values = update_critic(batch, qf1, q_optimizer, target_actor, qf1_target, args.gamma)
            if global_step % args.policy_frequency == 0:
                actor_loss = update_actor(batch[0], actor, actor_optimizer, qf1)
                soft_update(target_actor, actor, args.tau)
                soft_update(qf1_target, qf1, args.tau)
                if global_step % 100 < args.policy_frequency:  # once per 100 steps, whatever the frequency
                    writer.add_scalar("losses/actor_loss", actor_loss.item(), global_step)

            if global_step % 100 == 0:
                writer.add_scalar("losses/qf1_loss", qf1_loss.item(), global_step)
                writer.add_scalar("losses/qf1_values", qf1_a_values.mean().item(), global_step)
                writer.add_scalar("charts/SPS", int(global_step / (time.time() - start_time)), global_step)

        if progress.disable and (global_step + 1) % print_every == 0:
            sps = int((global_step + 1) / (time.time() - start_time))
            print(
                f"step {global_step + 1}/{args.total_timesteps} | {sps} steps/s | episodic_return {episodic_return:.1f}",
                flush=True,
            )
    progress.close()
    env.close()

    if args.save_model:
        model_path = os.path.join(run_dir, f"{args.exp_name}.pt")
        torch.save({"actor": actor.state_dict(), "qf1": qf1.state_dict(), "args": asdict(args)}, model_path)
        print(f"model saved to {model_path}; evaluate it with: python {sys.argv[0]} --load-model {model_path}")

    if args.eval_episodes > 0:
        returns = evaluate(actor, eval_env, args.eval_episodes, eval_seed, device)
        writer.add_scalar("eval/episodic_return", np.mean(returns), args.total_timesteps)
        print(f"eval episodic returns {[round(r, 2) for r in returns]}; mean {np.mean(returns):.2f}")
    eval_env.close()
    writer.close()
    if args.track:
        wandb.finish()

# DDPG (Lillicrap et al. 2016, arXiv:1509.02971) for continuous-action Gymnasium envs, in one file.
import os
import random
import sys
import time
from dataclasses import asdict, dataclass, replace
from typing import Literal, Optional, Tuple

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


def uniform_init_(layer: nn.Linear, limit: Optional[float]):
    if limit is not None:
        nn.init.uniform_(layer.weight, -limit, limit)
        nn.init.uniform_(layer.bias, -limit, limit)


class Actor(nn.Module):
    def __init__(self, env: gym.Env, hidden_sizes=(256, 256), layer_norm=False, final_layer_init=None):
        super().__init__()
        obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
        self.fc1 = nn.Linear(obs_dim, hidden_sizes[0])
        self.fc2 = nn.Linear(hidden_sizes[0], hidden_sizes[1])
        self.fc_mu = nn.Linear(hidden_sizes[1], act_dim)
        self.ln1, self.ln2 = (nn.LayerNorm(size) if layer_norm else nn.Identity() for size in hidden_sizes)
        uniform_init_(self.fc_mu, final_layer_init)
        low = torch.as_tensor(env.action_space.low, dtype=torch.float64)
        high = torch.as_tensor(env.action_space.high, dtype=torch.float64)
        self.register_buffer("action_scale", ((high - low) / 2).float())
        self.register_buffer("action_bias", ((high + low) / 2).float())
        self.register_buffer("action_low", low.float())
        self.register_buffer("action_high", high.float())

    def forward(self, obs):
        x = F.relu(self.ln1(self.fc1(obs)))
        x = F.relu(self.ln2(self.fc2(x)))
        # tanh maps to (-1, 1); scale and bias map that onto [low, high] per dimension (bounds may be asymmetric),
        # and the clamp catches the float rounding that can land a saturated action one ulp outside
        action = torch.tanh(self.fc_mu(x)) * self.action_scale + self.action_bias
        return action.clamp(self.action_low, self.action_high)


class QNetwork(nn.Module):
    def __init__(self, env: gym.Env, hidden_sizes=(256, 256), layer_norm=False, final_layer_init=None, action_layer=1):
        super().__init__()
        obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
        self.action_layer = action_layer
        self.fc1 = nn.Linear(obs_dim + (act_dim if action_layer == 1 else 0), hidden_sizes[0])
        self.fc2 = nn.Linear(hidden_sizes[0] + (act_dim if action_layer == 2 else 0), hidden_sizes[1])
        self.fc3 = nn.Linear(hidden_sizes[1], 1)
        self.ln1, self.ln2 = (nn.LayerNorm(size) if layer_norm else nn.Identity() for size in hidden_sizes)
        uniform_init_(self.fc3, final_layer_init)

    def forward(self, obs, action):
        x = F.relu(self.ln1(self.fc1(torch.cat([obs, action], -1) if self.action_layer == 1 else obs)))
        x = F.relu(self.ln2(self.fc2(torch.cat([x, action], -1) if self.action_layer == 2 else x)))
        return self.fc3(x).squeeze(-1)


def compute_td_target(rewards, terminations, next_obs, target_actor, qf1_target, gamma: float):
    """y = r + gamma * (1 - terminated) * Q'(s', mu'(s')): only a true termination stops bootstrapping."""
    with torch.no_grad():
        return rewards + gamma * (1.0 - terminations) * qf1_target(next_obs, target_actor(next_obs))


def update_critic(batch, qf1, q_optimizer, target_actor, qf1_target, gamma: float):
    """One Adam step on the critic's squared error to the TD target; returns loss, Q(s, a), target (no host sync)."""
    obs, actions, rewards, next_obs, terminations = batch
    td_target = compute_td_target(rewards, terminations, next_obs, target_actor, qf1_target, gamma)
    qf1_a_values = qf1(obs, actions)
    qf1_loss = F.mse_loss(qf1_a_values, td_target)
    q_optimizer.zero_grad()
    qf1_loss.backward()
    q_optimizer.step()
    return qf1_loss.detach(), qf1_a_values.detach(), td_target


def update_actor(obs, actor, actor_optimizer, qf1):
    """One Adam step on the actor towards higher Q(s, mu(s)); only the actor's optimiser steps."""
    qf1.requires_grad_(False)  # the gradient flows through the critic to the actor, skipping the critic's weight grads
    actor_loss = -qf1(obs, actor(obs)).mean()
    actor_optimizer.zero_grad()
    actor_loss.backward()
    actor_optimizer.step()
    qf1.requires_grad_(True)
    return actor_loss.detach()


def soft_update(target: nn.Module, source: nn.Module, tau: float):
    """Polyak averaging in place: target <- tau * source + (1 - tau) * target."""
    with torch.no_grad():
        for target_param, param in zip(target.parameters(), source.parameters()):
            target_param.lerp_(param, tau)


def ou_step(noise: np.ndarray, theta: float, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """One step of the Ornstein-Uhlenbeck process x <- x - theta * x + sigma * N(0, 1): noise correlated in time."""
    return noise - theta * noise + sigma * rng.standard_normal(noise.shape)


def perturb_actor(perturbed_actor: Actor, actor: Actor, std: float):
    """Plappert et al. 2018: the actor's weights plus N(0, std^2) noise; LayerNorm's own parameters stay clean."""
    with torch.no_grad():
        for (name, param), perturbed in zip(actor.named_parameters(), perturbed_actor.parameters()):
            perturbed.copy_(param if name.startswith("ln") else param + std * torch.randn_like(param))


def adapt_param_noise(std: float, distance: float, target: float, coefficient: float = 1.01) -> float:
    """Shrink the perturbation while it moves actions further than the target distance, grow it otherwise."""
    return std / coefficient if distance > target else std * coefficient


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
    if args.paper:  # parse again with the paper's values as defaults, so that flags given beside --paper win
        args = tyro.cli(Args, default=replace(Args(), **PAPER, paper=True))
    if args.exploration_noise_type == "param":
        args.actor_layer_norm = True  # parameter noise needs comparable scales across layers
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
            saved = Args(**checkpoint["args"])
            eval_env = make_env(saved.env_id, eval_seed)
            actor = Actor(eval_env, saved.hidden_sizes, saved.actor_layer_norm).to(device)
            actor.load_state_dict(checkpoint["actor"])
        except Exception as e:  # any file that is not a readable checkpoint of a usable env
            sys.exit(f"error: cannot evaluate {args.load_model}: {e}")
        returns = evaluate(actor, eval_env, args.eval_episodes, eval_seed, device)
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

    def new_actor():
        return Actor(env, args.hidden_sizes, args.actor_layer_norm, args.final_layer_init).to(device)

    def new_critic():
        return QNetwork(
            env, args.hidden_sizes, args.critic_layer_norm, args.final_layer_init, args.critic_action_layer
        ).to(device)

    actor, qf1, target_actor, qf1_target = new_actor(), new_critic(), new_actor(), new_critic()
    target_actor.load_state_dict(actor.state_dict())
    qf1_target.load_state_dict(qf1.state_dict())
    critic_learning_rate = args.critic_learning_rate or args.learning_rate
    # fused: one kernel for the whole Adam step instead of a dozen passes over each tensor; the same math, in less time
    q_optimizer = torch.optim.Adam(
        qf1.parameters(), lr=critic_learning_rate, weight_decay=args.critic_weight_decay, fused=True
    )
    actor_optimizer = torch.optim.Adam(actor.parameters(), lr=args.learning_rate, fused=True)
    action_scale = actor.action_scale.cpu().numpy()
    noise_rng = np.random.default_rng(args.seed)
    ou_noise = np.zeros_like(action_scale)
    if args.exploration_noise_type == "param":
        perturbed_actor, adaptive_actor, param_noise_std = new_actor(), new_actor(), 0.1  # 0.1: the initial scale
        perturb_actor(perturbed_actor, actor, param_noise_std)
    behaviour_actor = perturbed_actor if args.exploration_noise_type == "param" else actor

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
                action = behaviour_actor(torch.as_tensor(obs, dtype=torch.float32, device=device)).cpu().numpy()
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
                perturb_actor(perturbed_actor, actor, param_noise_std)

        if global_step > args.learning_starts:
            batch = [torch.from_numpy(x).to(device) for x in rb.sample(args.batch_size)]
            qf1_loss, qf1_a_values, td_target = update_critic(
                batch, qf1, q_optimizer, target_actor, qf1_target, args.gamma
            )
            if global_step % args.policy_frequency == 0:
                actor_loss = update_actor(batch[0], actor, actor_optimizer, qf1)
                soft_update(target_actor, actor, args.tau)
                soft_update(qf1_target, qf1, args.tau)
                if global_step % 100 < args.policy_frequency:  # once per 100 steps, whatever the frequency
                    writer.add_scalar("losses/actor_loss", actor_loss.item(), global_step)

            if global_step % 100 == 0:
                writer.add_scalar("losses/qf1_loss", qf1_loss.item(), global_step)
                writer.add_scalar("losses/qf1_values", qf1_a_values.mean().item(), global_step)
                writer.add_scalar("losses/td_target", td_target.mean().item(), global_step)
                writer.add_scalar("charts/SPS", int(global_step / (time.time() - start_time)), global_step)

            if args.exploration_noise_type == "param" and global_step % 50 == 0:  # Plappert et al. adapt every 50
                perturb_actor(adaptive_actor, actor, param_noise_std)
                with torch.no_grad():
                    distance = ((actor(batch[0]) - adaptive_actor(batch[0])) / actor.action_scale).pow(2).mean().sqrt()
                param_noise_std = adapt_param_noise(param_noise_std, distance.item(), args.param_noise_target)
                if global_step % 100 == 0:
                    writer.add_scalar("charts/param_noise_std", param_noise_std, global_step)
                    writer.add_scalar("charts/param_noise_distance", distance.item(), global_step)

        if args.diagnostics_frequency and global_step >= args.learning_starts:
            if global_step == args.learning_starts:  # probe states drawn once, to follow the same states over training
                probe_obs = torch.from_numpy(rb.sample(256)[0]).to(device)
                with torch.no_grad():
                    probe_actions = actor(probe_obs)
            if (global_step + 1) % args.diagnostics_frequency == 0:
                with torch.no_grad():
                    actions = actor(probe_obs)
                    probe_q = qf1(probe_obs, actions)
                drift = ((actions - probe_actions).abs() / actor.action_scale).mean().item()
                writer.add_histogram("diagnostics/probe_actions", actions, global_step + 1)
                writer.add_histogram("diagnostics/probe_q_values", probe_q, global_step + 1)
                writer.add_scalar("diagnostics/probe_q_mean", probe_q.mean().item(), global_step + 1)
                writer.add_scalar("diagnostics/probe_action_drift", drift, global_step + 1)
                probe_actions = actions

        steps_done = global_step + 1
        eval_due = args.eval_frequency and steps_done % args.eval_frequency == 0
        if args.eval_episodes and (eval_due or steps_done == args.total_timesteps):
            returns = evaluate(actor, eval_env, args.eval_episodes, eval_seed, device)
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
        model_path = os.path.join(run_dir, f"{args.exp_name}.pt")
        torch.save({"actor": actor.state_dict(), "qf1": qf1.state_dict(), "args": asdict(args)}, model_path)
        print(f"model saved to {model_path}; evaluate it with: python {sys.argv[0]} --load-model {model_path}")
    writer.close()
    if args.track:
        wandb.finish()

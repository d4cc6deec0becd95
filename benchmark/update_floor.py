"""How fast can a DDPG training step get on this machine? The bare update of both scripts next to the floors.

    python benchmark/update_floor.py --out benchmark/results/speed

Times one training step (a critic update every step; the actor update and the soft updates every second step; a
batch of 256 sampled from a 100k-transition buffer; Hopper-v4 sizes, 256-256 networks) with no env in the loop:
- torch-script: the PyTorch script's own update_critic, update_actor and soft_update;
- torch-by-hand: the same step written out in PyTorch without autograd (forward and backward passes as explicit
  matrix products, the same fused Adam): about the least eager PyTorch can do per step, whatever the code looks like.
  Its gradients are checked against autograd's before it is timed;
- jax-script: the JAX script's own jitted update (`make_update`): critic, actor and soft updates in one call;
- the arithmetic floors: the step's FLOPs over the 256x256x256 matrix-product rate of PyTorch and of XLA here.
Each figure is the median over repeats run round-robin, each in a fresh process.
"""

import argparse
import copy
import csv
import sys
import time
from pathlib import Path

import numpy as np
import speed

BUFFER = 100_000
WARMUP, STEPS = 200, 1_000


def filled_buffer(module):
    """The script's own replay buffer, full of random Hopper-sized transitions."""
    rng = np.random.default_rng(0)
    rb = module.ReplayBuffer(BUFFER, speed.OBS_DIM, speed.ACT_DIM, seed=0)
    rb.obs[:], rb.next_obs[:] = rng.normal(size=(2, BUFFER, speed.OBS_DIM))
    rb.actions[:] = rng.uniform(-1, 1, (BUFFER, speed.ACT_DIM))
    rb.rewards[:], rb.terminations[:] = rng.normal(size=BUFFER), rng.random(BUFFER) < 0.01
    rb.size = BUFFER
    return rb


def ms_per_step(step) -> float:
    """Milliseconds per call of step(i), after a warm-up (JIT compilation included there)."""
    for i in range(WARMUP):
        step(i)
    start = time.perf_counter()
    for i in range(WARMUP, WARMUP + STEPS):
        step(i)
    return (time.perf_counter() - start) / STEPS * 1e3


def torch_networks():
    """The PyTorch script, its actor, critic and their targets, fused Adams as in the script, and a full buffer."""
    import gymnasium as gym
    import torch

    sys.path.insert(0, str(speed.ROOT))
    import ddpg_continuous_action as ddpg

    torch.manual_seed(0)
    env = gym.make("Hopper-v4")
    actor, qf1 = ddpg.Actor(env, speed.HIDDEN), ddpg.QNetwork(env, speed.HIDDEN)
    actor_target, qf1_target = copy.deepcopy(actor), copy.deepcopy(qf1)
    q_optimizer = torch.optim.Adam(qf1.parameters(), lr=speed.LR, fused=True)
    actor_optimizer = torch.optim.Adam(actor.parameters(), lr=speed.LR, fused=True)
    return ddpg, (actor, qf1, actor_target, qf1_target), (q_optimizer, actor_optimizer), filled_buffer(ddpg)


def sampled_batch(rb):
    import torch

    return [torch.from_numpy(x) for x in rb.sample(speed.BATCH, 1, speed.GAMMA)]


def torch_script_ms() -> float:
    ddpg, (actor, qf1, actor_target, qf1_target), (q_optimizer, actor_optimizer), rb = torch_networks()

    def step(i):
        batch = sampled_batch(rb)
        ddpg.update_critic(qf1, q_optimizer, actor_target, qf1_target, batch)
        if i % speed.POLICY_FREQUENCY == 0:
            ddpg.update_actor(actor, actor_optimizer, qf1, batch[0])
            ddpg.soft_update(actor_target, actor, speed.TAU)
            ddpg.soft_update(qf1_target, qf1, speed.TAU)

    return ms_per_step(step)


def layers(net):
    """(weight, bias) of each Linear layer of a script's actor or critic, input to output."""
    output = net.fc_mu if hasattr(net, "fc_mu") else net.fc3
    return [(layer.weight, layer.bias) for layer in (net.fc1, net.fc2, output)]


def forward(net_layers, x):
    """Both hidden activations and the output of a 2-hidden-layer ReLU MLP."""
    import torch

    (w1, b1), (w2, b2), (w3, b3) = net_layers
    h1 = torch.addmm(b1, x, w1.t()).relu_()
    h2 = torch.addmm(b2, h1, w2.t()).relu_()
    return h1, h2, torch.addmm(b3, h2, w3.t())


def backward(net_layers, x, h1, h2, d_out, weight_grads=True):
    """Gradients of the MLP's weights and biases, or of its input, given the gradient of its output."""
    (w1, _), (w2, _), (w3, _) = net_layers
    d_h2 = (d_out @ w3) * (h2 > 0)
    d_h1 = (d_h2 @ w2) * (h1 > 0)
    if not weight_grads:
        return d_h1 @ w1
    return [d_h1.t() @ x, d_h1.sum(0), d_h2.t() @ h1, d_h2.sum(0), d_out.t() @ h2, d_out.sum(0)]


def actor_forward(actor, obs):
    """The actor's hidden activations, its tanh output, where the clamp to the bounds passes gradient, its action."""
    h1, h2, pre_tanh = forward(layers(actor), obs)
    squashed = pre_tanh.tanh()
    action = squashed * actor.action_scale + actor.action_bias
    inside = (action >= actor.action_low) & (action <= actor.action_high)
    return h1, h2, squashed, inside, action.clamp(actor.action_low, actor.action_high)


def critic_grads_by_hand(batch, qf1, actor_target, qf1_target):
    """The critic's gradients of the mean squared TD error, with no autograd."""
    import torch

    obs, actions, rewards, next_obs, terminations, _ = batch
    next_q = forward(layers(qf1_target), torch.cat([next_obs, actor_forward(actor_target, next_obs)[-1]], 1))[2]
    td_target = rewards[:, None] + speed.GAMMA * (1.0 - terminations[:, None]) * next_q
    x = torch.cat([obs, actions], 1)
    h1, h2, qf1_a_values = forward(layers(qf1), x)
    return backward(layers(qf1), x, h1, h2, (qf1_a_values - td_target) * (2.0 / len(obs)))


def actor_grads_by_hand(obs, actor, qf1):
    """The actor's gradients of -mean Q(s, mu(s)), with no autograd; the critic's weights get none."""
    import torch

    h1, h2, squashed, inside, action = actor_forward(actor, obs)
    x = torch.cat([obs, action], 1)
    g1, g2, _ = forward(layers(qf1), x)
    d_q = torch.full((len(obs), 1), -1.0 / len(obs))
    d_action = backward(layers(qf1), x, g1, g2, d_q, weight_grads=False)[:, speed.OBS_DIM :]
    d_pre_tanh = d_action * actor.action_scale * (1 - squashed * squashed) * inside
    return backward(layers(actor), obs, h1, h2, d_pre_tanh)


def step_by_hand(grads, net, optimizer):
    for param, grad in zip(net.parameters(), grads):
        param.grad = grad
    optimizer.step()


def check_by_hand(ddpg, nets, batch):
    """The hand-written gradients equal autograd's (the script's losses) on this batch, or AssertionError."""
    import torch

    actor, qf1, actor_target, qf1_target = nets
    obs, actions, rewards, next_obs, terminations, discounts = batch
    td_target = ddpg.compute_td_target(rewards, terminations, next_obs, discounts, actor_target, qf1_target)
    critic_loss = torch.nn.functional.mse_loss(qf1(obs, actions), td_target)
    autograd = [torch.autograd.grad(critic_loss, list(qf1.parameters()))]
    autograd.append(torch.autograd.grad(-qf1(obs, actor(obs)).mean(), list(actor.parameters())))
    with torch.no_grad():
        by_hand = critic_grads_by_hand(batch, qf1, actor_target, qf1_target), actor_grads_by_hand(obs, actor, qf1)
    for net, grads, references in zip((qf1, actor), by_hand, autograd):
        for (name, _), grad, reference in zip(net.named_parameters(), grads, references):
            assert torch.allclose(grad, reference, rtol=1e-4, atol=1e-6), f"{name}: hand-written gradient differs"


def torch_by_hand_ms() -> float:
    import torch

    ddpg, nets, (q_optimizer, actor_optimizer), rb = torch_networks()
    actor, qf1, actor_target, qf1_target = nets
    check_by_hand(ddpg, nets, sampled_batch(rb))

    @torch.no_grad()
    def step(i):
        batch = sampled_batch(rb)
        step_by_hand(critic_grads_by_hand(batch, qf1, actor_target, qf1_target), qf1, q_optimizer)
        if i % speed.POLICY_FREQUENCY == 0:
            step_by_hand(actor_grads_by_hand(batch[0], actor, qf1), actor, actor_optimizer)
            ddpg.soft_update(actor_target, actor, speed.TAU)
            ddpg.soft_update(qf1_target, qf1, speed.TAU)

    return ms_per_step(step)


def jax_script_ms() -> float:
    import gymnasium as gym
    import jax
    import optax

    sys.path.insert(0, str(speed.ROOT))
    import ddpg_continuous_action_jax as ddpg

    env = gym.make("Hopper-v4")
    actor, qf1 = ddpg.make_actor(env, speed.HIDDEN), ddpg.QNetwork(speed.HIDDEN)
    obs, action = np.zeros(speed.OBS_DIM, np.float32), np.zeros(speed.ACT_DIM, np.float32)
    actor_params = actor.init(jax.random.PRNGKey(0), obs)
    qf1_params = qf1.init(jax.random.PRNGKey(1), obs, action)
    actor_optimizer, q_optimizer = (
        optax.adam(speed.LR),
        optax.chain(optax.add_decayed_weights(0.0), optax.adam(speed.LR)),
    )
    state = {"actor_params": actor_params, "qf1_params": qf1_params, "actor_target_params": actor_params,
             "qf1_target_params": qf1_params, "actor_opt_state": actor_optimizer.init(actor_params),
             "q_opt_state": q_optimizer.init(qf1_params)}  # fmt: skip

    update = ddpg.make_update(actor, qf1, actor_optimizer, q_optimizer, speed.TAU)  # the script's

    rb = filled_buffer(ddpg)

    def step(i):
        nonlocal state
        batch = rb.sample(speed.BATCH, 1, speed.GAMMA)
        state, metrics = update(state, batch, with_actor=i % speed.POLICY_FREQUENCY == 0)
        metrics["qf1_loss"].block_until_ready()

    return ms_per_step(step)


def xla_matmul_gflops(chain: int = 20) -> float:
    """The rate of a 256x256 by 256x256 float32 matrix product in XLA here (a chain in one jitted call), GFLOP/s."""
    import jax
    import jax.numpy as jnp

    @jax.jit
    def products(a, b):
        for _ in range(chain):
            a = jnp.tanh(a @ b)  # the tanh keeps XLA from folding the chain
        return a

    a, b = jnp.ones((256, 256)) / 256, jnp.ones((256, 256))
    return speed.best_rate(lambda: products(a, b).block_until_ready(), 2 * 256**3 * chain, calls=20)


MEASUREMENTS = {"torch-script": "torch_script_ms", "torch-by-hand": "torch_by_hand_ms", "jax-script": "jax_script_ms"}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="where update_floor.csv and update_floor.md go")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)

    times = {name: [] for name in MEASUREMENTS}
    for repeat in range(args.repeats):
        for name, function in MEASUREMENTS.items():
            times[name].append(speed.measure_in_subprocess(function, module="update_floor"))
            print(f"repeat {repeat + 1}/{args.repeats}: {name} {times[name][-1]:.2f} ms/step", flush=True)
    flops = speed.train_step_flops(speed.OBS_DIM, speed.ACT_DIM)
    rates = {"torch": speed.measure_in_subprocess("matmul_gflops"),
             "xla": speed.measure_in_subprocess("xla_matmul_gflops", module="update_floor")}  # fmt: skip
    rows = [{"update": name, "ms_per_step_median": round(float(np.median(values)), 3),
             "ms_per_step_runs": " ".join(f"{v:.3f}" for v in values)} for name, values in times.items()]  # fmt: skip
    for framework, gflops in rates.items():
        rows.append({"update": f"{framework}-arithmetic-floor", "ms_per_step_median": round(flops / gflops / 1e6, 3),
                     "ms_per_step_runs": f"{flops / 1e9:.3f} GFLOP at {gflops:.1f} GFLOP/s"})  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "update_floor.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    table = "| update | ms per training step (median) | runs |\n|---|---|---|\n"
    table += "".join(f"| {r['update']} | {r['ms_per_step_median']} | {r['ms_per_step_runs']} |\n" for r in rows)
    (args.out / "update_floor.md").write_text(table)
    print("\n" + table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

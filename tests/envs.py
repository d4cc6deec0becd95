"""Small test envs, registered on import; a script reaches them as `--env-id tests.envs:NAME-v0`."""

import gymnasium as gym
import numpy as np


class AsymmetricBoundsEnv(gym.Env):
    """Steer to the middle of an asymmetric per-dimension action box; an action outside it is an error.

    tanh * scale + bias rounds below -0.1 at the saturated end in float32, so the bounds catch a missing clamp.
    """

    observation_space = gym.spaces.Box(-np.inf, np.inf, (3,), np.float32)
    action_space = gym.spaces.Box(
        low=np.array([-0.1, 0.0, -5.0], np.float32), high=np.array([0.7, 2.0, -1.0], np.float32)
    )

    def __init__(self, render_mode=None):
        self.render_mode = render_mode

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.state = self.np_random.normal(size=3).astype(np.float32)
        return self.state, {}

    def step(self, action):
        if not self.action_space.contains(np.asarray(action, dtype=np.float32)):
            raise AssertionError(f"action {action} lies outside [{self.action_space.low}, {self.action_space.high}]")
        middle = (self.action_space.low + self.action_space.high) / 2
        reward = -float(np.sum((action - middle) ** 2))
        self.state = (0.9 * self.state + 0.1 * self.np_random.normal(size=3)).astype(np.float32)
        return self.state, reward, False, False, {}


class ImageObsEnv(AsymmetricBoundsEnv):
    """Continuous actions but image observations, which the scripts refuse."""

    observation_space = gym.spaces.Box(0, 255, (8, 8, 3), np.uint8)


class UnboundedActionsEnv(AsymmetricBoundsEnv):
    """An action box without bounds, in which a tanh actor's scale would be infinite."""

    action_space = gym.spaces.Box(-np.inf, np.inf, (2,), np.float32)


class NoRenderEnv(AsymmetricBoundsEnv):
    """An env whose renderer fails, as MuJoCo's does on a machine without a working OpenGL."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 30}

    def render(self):
        raise RuntimeError("no OpenGL context here")


gym.register("AsymmetricBounds-v0", entry_point=AsymmetricBoundsEnv, max_episode_steps=50)
gym.register("NoTimeLimit-v0", entry_point=AsymmetricBoundsEnv)  # its episodes never end
gym.register("UnboundedActions-v0", entry_point=UnboundedActionsEnv, max_episode_steps=50)
gym.register("NoRender-v0", entry_point=NoRenderEnv, max_episode_steps=50)
gym.register("ImageObs-v0", entry_point=ImageObsEnv, max_episode_steps=50)
gym.register(  # Pendulum with episodes of 150 steps: episode ends that are not all multiples of 100
    "Pendulum150-v0", entry_point="gymnasium.envs.classic_control.pendulum:PendulumEnv", max_episode_steps=150
)

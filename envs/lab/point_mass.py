"""A continuous 2-D point mass: sparse and deceptive goal navigation, and a multi-objective task.

The mass lives in the arena ``[-1, 1]^2``. An action ``a in [-1, 1]^2`` sets its velocity
through first-order damping, ``v' = damping * v + (1 - damping) * max_speed * a``, and
``p' = p + v'``. Walls are axis-aligned rectangles; a move into one slides along it (the blocked
velocity component is zeroed). Walls are thicker than one step, so nothing tunnels through.
"""

from __future__ import annotations

from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from envs import named
from envs.core import Box, Env, State, initial_state, next_state

Rect = tuple[float, float, float, float]  # x_min, y_min, x_max, y_max

# A cup open towards the start, with its back between start and goal: the dense proxy
# (negative distance) leads straight into it, to a dead end 0.5 from the goal.
CUP: tuple[Rect, ...] = ((0.2, -0.5, 0.3, 0.5), (-0.2, 0.4, 0.3, 0.5), (-0.2, -0.5, 0.3, -0.4))


@struct.dataclass
class PointMassState:
    pos: jax.Array  # float32 [2]
    vel: jax.Array  # float32 [2]


def _blocked(walls, pos):
    """Whether ``pos`` is outside the arena or inside one of ``walls [n, 4]`` (numpy or JAX arrays)."""
    inside = (pos[0] > walls[:, 0]) & (pos[1] > walls[:, 1]) & (pos[0] < walls[:, 2]) & (pos[1] < walls[:, 3])
    return inside.any() | (abs(pos) > 1.0).any()


class PointMass(Env):
    """Shared point-mass dynamics, observation and rendering (the subclasses define rewards).

    Observation (6): position, velocity / max_speed, goal - position.
    """

    def __init__(
        self,
        walls: tuple[Rect, ...] = (),
        start: tuple[float, float] = (-0.7, 0.0),
        goal: tuple[float, float] = (0.7, 0.0),
        goal_radius: float = 0.1,
        start_noise: float = 0.05,
        max_speed: float = 0.05,
        damping: float = 0.5,
    ):
        if not 0.0 <= damping < 1.0:
            raise ValueError(f"damping must be in [0, 1), got {damping}")
        if max_speed <= 0 or goal_radius <= 0:
            raise ValueError(f"max_speed and goal_radius must be > 0, got {max_speed} and {goal_radius}")
        thinnest = min((min(x1 - x0, y1 - y0) for x0, y0, x1, y1 in walls), default=np.inf)
        if thinnest <= max_speed:
            raise ValueError(f"walls must be thicker than max_speed ({max_speed}) or the mass tunnels; thinnest is {thinnest}")
        self.wall_rects = tuple(tuple(float(v) for v in w) for w in walls)
        self._walls = np.array(self.wall_rects, np.float32).reshape(-1, 4)
        self.start, self.goal = np.array(start, np.float32), np.array(goal, np.float32)
        self.goal_radius, self.start_noise = float(goal_radius), float(start_noise)
        self.max_speed, self.damping = float(max_speed), float(damping)
        if _blocked(self._walls, self.start) or _blocked(self._walls, self.goal):
            raise ValueError(f"start {start} and goal {goal} must lie in the arena and outside the walls")

    @property
    def observation_size(self) -> int:
        return 6

    @property
    def action_space(self) -> Box:
        return Box((-1.0, -1.0), (1.0, 1.0))

    def blocked(self, pos: jax.Array) -> jax.Array:
        """Whether ``pos`` is outside the arena or inside a wall."""
        return _blocked(jnp.asarray(self._walls), pos)

    def distance(self, pos: jax.Array) -> jax.Array:
        return jnp.linalg.norm(pos - jnp.asarray(self.goal))

    def _obs(self, ps: PointMassState) -> jax.Array:
        return jnp.concatenate([ps.pos, ps.vel / self.max_speed, jnp.asarray(self.goal) - ps.pos])

    def _reset(self, rng: jax.Array, metrics: tuple[str, ...]) -> State:
        pos = jnp.asarray(self.start) + jax.random.uniform(rng, (2,), minval=-self.start_noise, maxval=self.start_noise)
        ps = PointMassState(pos=pos, vel=jnp.zeros(2, jnp.float32))
        return initial_state(ps, self._obs(ps), metrics)

    def physics(self, ps: PointMassState, action: jax.Array) -> PointMassState:
        """One step of damped velocity control, sliding along walls."""
        action = jnp.clip(jnp.reshape(action, (2,)), -1.0, 1.0)
        vel = self.damping * ps.vel + (1.0 - self.damping) * self.max_speed * action
        full = ps.pos + vel
        only_x = jnp.stack([full[0], ps.pos[1]])
        only_y = jnp.stack([ps.pos[0], full[1]])
        ok_full, ok_x, ok_y = ~self.blocked(full), ~self.blocked(only_x), ~self.blocked(only_y)
        pos = jnp.where(ok_full, full, jnp.where(ok_x, only_x, jnp.where(ok_y, only_y, ps.pos)))
        keep = jnp.stack([ok_full | ok_x, ok_full | (~ok_x & ok_y)]).astype(jnp.float32)
        return PointMassState(pos=pos, vel=vel * keep)

    def render(self, state: State, pixels: int = 240) -> np.ndarray:
        """``uint8 [pixels, pixels, 3]`` RGB frame of one (unbatched) state."""
        from PIL import Image, ImageDraw

        image = Image.new("RGB", (pixels, pixels), (235, 235, 225))
        draw = ImageDraw.Draw(image, "RGBA")
        to_px = lambda x, y: ((x + 1) / 2 * (pixels - 1), (1 - (y + 1) / 2) * (pixels - 1))
        for x0, y0, x1, y1 in self.wall_rects:
            draw.rectangle([to_px(x0, y1), to_px(x1, y0)], fill=(60, 60, 70))
        self._draw_extras(draw, to_px, pixels)
        disk = lambda c, r, color: draw.ellipse(
            [to_px(c[0] - r, c[1] + r), to_px(c[0] + r, c[1] - r)], fill=color)
        disk(self.goal, self.goal_radius, (60, 180, 75, 255))
        disk(np.asarray(state.pipeline_state.pos), 0.04, (40, 110, 230, 255))
        return np.asarray(image)

    def _draw_extras(self, draw, to_px, pixels) -> None:
        """Subclasses draw task features (e.g. a hazard) between walls and agent."""


class GoalNavigation(PointMass):
    """Sparse goal navigation, with a dense proxy that a wall makes deceptive.

    The mass starts at (-0.7, 0) and must reach the goal disk at (0.7, 0) (radius 0.1); the
    episode ends there. With ``wall=True`` a cup open towards the start sits between them.

    * True objective: reach the goal. ``info["true_reward"]`` is 1 on arrival, else 0.
    * Visible reward: ``reward="sparse"`` shows the true reward; ``reward="dense"`` shows the
      proxy ``-||p - goal||`` each step. Behind the cup the proxy is deceptive: its local optimum
      is the cup's back wall (distance 0.5), and the way around leads first away from the goal
      (about 0.9 at the cup's rim). A proxy-greedy agent parks in the cup.
    * ``metrics``: ``distance`` (to the goal) and ``reached`` (1 on arrival).

    What it is for: sparse-reward exploration, shaping (PBRS with a distance potential keeps the
    optimal policy, the raw proxy does not: Ng et al. 1999), and deceptive-reward studies
    (Lehman & Stanley 2011, "novelty search").
    """

    def __init__(self, reward: Literal["sparse", "dense"] = "sparse", wall: bool = True, **kwargs):
        if reward not in ("sparse", "dense"):
            raise ValueError(f"reward must be 'sparse' or 'dense', got {reward!r}")
        super().__init__(walls=CUP if wall else (), **kwargs)
        self.reward_kind = reward

    def reset(self, rng: jax.Array) -> State:
        return self._reset(rng, ("distance", "reached"))

    def step(self, state: State, action: jax.Array) -> State:
        ps = self.physics(state.pipeline_state, action)
        distance = self.distance(ps.pos)
        reached = (distance <= self.goal_radius).astype(jnp.float32)
        reward = reached if self.reward_kind == "sparse" else -distance
        return next_state(
            state, ps, self._obs(ps), reward=reward, true_reward=reached, done=reached,
            metrics={"distance": distance, "reached": reached},
        )


class HazardNavigation(PointMass):
    """Multi-objective navigation: progress vs energy vs a safety cost, which conflict.

    The straight route from (-0.7, 0) to the goal at (0.7, 0) crosses a hazard disk (centre
    (0, 0), radius 0.3). Three components go into ``metrics`` each step:

    * ``progress = ||p - goal|| - ||p' - goal||`` (plus 1 on reaching the goal): wants the
      straight, fast route;
    * ``energy = ||a||^2``: wants small actions, i.e. slow;
    * ``hazard = 1[p' in hazard]``: the safety cost, wants the detour.

    Visible reward: ``w_progress * progress - w_energy * energy - w_hazard * hazard``
    (``weights``, default (1, 0, 0): progress only). True objective: reach the goal, true reward 1
    on arrival; the costs are read from metrics (e.g. by ``jrew.rewards.weighted_sum`` or
    ``lagrangian``, which trains against ``hazard`` with a cost limit). What it is for:
    weighted, constrained (RCPO: Tessler et al. 2019) and Pareto studies of conflicting rewards.
    """

    def __init__(self, weights: tuple[float, float, float] = (1.0, 0.0, 0.0), hazard_radius: float = 0.3, **kwargs):
        if len(weights) != 3:
            raise ValueError(f"weights are (progress, energy, hazard), got {weights!r}")
        super().__init__(**kwargs)
        self.weights = tuple(float(w) for w in weights)
        self.hazard_radius = float(hazard_radius)

    def reset(self, rng: jax.Array) -> State:
        return self._reset(rng, ("progress", "energy", "hazard", "reached"))

    def step(self, state: State, action: jax.Array) -> State:
        before = state.pipeline_state
        ps = self.physics(before, action)
        distance = self.distance(ps.pos)
        reached = (distance <= self.goal_radius).astype(jnp.float32)
        progress = self.distance(before.pos) - distance + reached
        clipped = jnp.clip(jnp.reshape(action, (2,)), -1.0, 1.0)
        energy = jnp.sum(clipped**2)
        hazard = (jnp.linalg.norm(ps.pos) <= self.hazard_radius).astype(jnp.float32)
        w_progress, w_energy, w_hazard = self.weights
        return next_state(
            state, ps, self._obs(ps),
            reward=w_progress * progress - w_energy * energy - w_hazard * hazard, true_reward=reached, done=reached,
            metrics={"progress": progress, "energy": energy, "hazard": hazard, "reached": reached},
        )

    def _draw_extras(self, draw, to_px, pixels) -> None:
        r = self.hazard_radius
        draw.ellipse([to_px(-r, r), to_px(r, -r)], fill=(220, 60, 60, 110))


# Named functions of the observation (position, velocity / max_speed, goal - position), for
# reward pipelines chosen by name (see envs.named).


@named.register("point_mass.distance", "potential", "lab/point_goal, lab/point_goal_dense, lab/point_hazard",
                "-||goal - position||: closer is better (a good potential for PBRS)")
def negative_goal_distance(obs: jax.Array) -> jax.Array:
    return -jnp.linalg.norm(obs[..., 4:6], axis=-1)


@named.register("point_mass.away", "potential", "lab/point_goal, lab/point_goal_dense, lab/point_hazard",
                "+||goal - position||: a misleading potential that favours moving away from the goal")
def goal_distance(obs: jax.Array) -> jax.Array:
    return jnp.linalg.norm(obs[..., 4:6], axis=-1)

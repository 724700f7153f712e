"""A tiny pure-JAX gridworld engine shared by the reward-lab gridworlds.

A level is ASCII art (``#`` wall, letters for objects), parsed once on the host into constant
arrays. The agent moves up/right/down/left; a move into a wall leaves it in place. Observations
are a one-hot of the agent's cell plus whatever the env appends (flat float32, MLP-ready).
Frames are drawn from the env's ``board(state)`` (the level's ASCII art with objects where they
are now), so every gridworld renders with one function.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from envs.core import Discrete, Env, State

ACTIONS = ("up", "right", "down", "left")
MOVES = np.array([[-1, 0], [0, 1], [1, 0], [0, -1]], np.int32)  # row, column deltas per action

# Colours for rendering, by board character; unknown characters are drawn grey.
COLORS = {
    "#": (60, 60, 70),
    " ": (235, 235, 225),
    ".": (235, 235, 225),
    "A": (40, 110, 230),  # agent
    "G": (60, 180, 75),  # goal
    "F": (60, 180, 75),  # finish line
    "1": (250, 200, 40),  # checkpoints
    "2": (250, 200, 40),
    "3": (250, 200, 40),
    "4": (250, 200, 40),
    "c": (200, 160, 60),  # checkpoint already passed this lap
    "X": (150, 95, 45),  # box
    "T": (200, 40, 40),  # watered tomato
    "t": (120, 150, 60),  # dry tomato
    "O": (130, 60, 170),  # sensor-tampering cell
    "V": (170, 170, 255),  # noisy TV
    ">": (250, 200, 40),  # AI Safety Gridworlds boat race goal tiles
    "v": (250, 200, 40),
    "<": (250, 200, 40),
    "^": (250, 200, 40),
}

# What each board character is, for the legend under rendered frames (``envs.render.frames``); an env
# may override entries with a ``legend`` attribute of its own. Floor is left out.
LEGEND = {
    "#": "wall", "A": "agent", "G": "goal", "F": "finish line", "1": "checkpoint", "2": "checkpoint",
    "3": "checkpoint", "4": "checkpoint", "c": "checkpoint passed", "X": "box", "T": "watered tomato",
    "t": "dry tomato", "O": "tampering cell", "V": "noisy TV", ">": "goal tile", "v": "goal tile", "<": "goal tile",
    "^": "goal tile",
}


def legend(chars, names: dict[str, str] | None = None) -> list[tuple[str, tuple[int, int, int]]]:
    """``[(label, rgb)]`` for the board characters ``chars`` (in ``LEGEND``'s order, one entry per
    label; floor and unnamed characters left out). ``names`` overrides ``LEGEND``'s labels."""
    names = {**LEGEND, **(names or {})}
    present, out = set(chars), {}
    for ch in [*names, *sorted(present - set(names))]:
        if ch in present and ch in names and names[ch] not in out:
            out[names[ch]] = COLORS.get(ch, (128, 128, 128))
    return list(out.items())


@dataclasses.dataclass(frozen=True)
class Layout:
    """A level's ASCII art; the outer border must be walls (so moves never leave the grid)."""

    rows: tuple[str, ...]

    def __post_init__(self):
        widths = {len(r) for r in self.rows}
        if len(widths) != 1:
            raise ValueError(f"layout rows must have equal length, got lengths {sorted(widths)}")
        border = self.rows[0] + self.rows[-1] + "".join(r[0] + r[-1] for r in self.rows)
        if set(border) != {"#"}:
            raise ValueError(f"layout border must be all walls '#', got {self.rows!r}")

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.rows), len(self.rows[0])

    @property
    def num_cells(self) -> int:
        return self.shape[0] * self.shape[1]

    def walls(self) -> np.ndarray:
        return np.array([[ch == "#" for ch in row] for row in self.rows])

    def find(self, chars: str) -> np.ndarray:
        """``[n, 2]`` int32 (row, column) of every cell holding one of ``chars``, in reading order."""
        cells = [(r, c) for r, row in enumerate(self.rows) for c, ch in enumerate(row) if ch in chars]
        return np.array(cells, np.int32).reshape(-1, 2)

    def find_one(self, char: str) -> np.ndarray:
        cells = self.find(char)
        if len(cells) != 1:
            raise ValueError(f"layout must hold exactly one {char!r}, found {len(cells)}")
        return cells[0]

    def canvas(self, keep: str = "") -> list[list[str]]:
        """The level with walls and the fixed objects in ``keep``; the rest is floor to draw on."""
        return [[ch if ch == "#" or ch in keep else " " for ch in row] for row in self.rows]


def move(walls: jax.Array, pos: jax.Array, action: jax.Array) -> jax.Array:
    """``pos`` moved one cell in direction ``action``, or ``pos`` itself if a wall is there."""
    target = pos + jnp.asarray(MOVES)[action]
    return jnp.where(walls[target[0], target[1]], pos, target)


def at(pos: jax.Array, cells: jax.Array) -> jax.Array:
    """``[n]`` bool: which of ``cells [n, 2]`` is ``pos``."""
    return jnp.all(cells == pos, axis=-1)


class GridEnv(Env):
    """Base class: a layout, four move actions, one-hot agent position, and rendering.

    Subclasses implement ``reset``/``step`` (building states with ``envs.core.initial_state`` and
    ``next_state``) and ``board(state)``; the agent's cell (int32 ``[2]``) is in their pipeline
    state, and a random stream, where an env needs one, in ``info["rng"]``.
    """

    def __init__(self, layout: Layout):
        self.layout = layout
        self._walls = layout.walls()

    @property
    def action_space(self) -> Discrete:
        return Discrete(len(ACTIONS))

    @property
    def walls(self) -> jax.Array:
        return jnp.asarray(self._walls)

    def agent_one_hot(self, agent: jax.Array) -> jax.Array:
        return jax.nn.one_hot(agent[0] * self.layout.shape[1] + agent[1], self.layout.num_cells, dtype=jnp.float32)

    def board(self, state: State) -> list[str]:
        """The level as ASCII art with every object where it is in ``state`` (one unbatched state)."""
        raise NotImplementedError

    def render(self, state: State, cell_pixels: int = 24) -> np.ndarray:
        """``uint8 [H*cell, W*cell, 3]`` RGB frame of one (unbatched) state."""
        return render_board(self.board(state), cell_pixels)


def render_board(board: list[str], cell_pixels: int = 24) -> np.ndarray:
    """``uint8 [H*cell, W*cell, 3]`` RGB image of an ASCII board, one coloured square per cell."""
    colors = np.array([[COLORS.get(ch, (128, 128, 128)) for ch in row] for row in board], np.uint8)
    frame = np.repeat(np.repeat(colors, cell_pixels, axis=0), cell_pixels, axis=1)
    frame[::cell_pixels, :] = 0  # grid lines keep cells countable
    frame[:, ::cell_pixels] = 0
    return frame


def draw(board: list[list[str]], char: str, cells) -> list[list[str]]:
    """Writes ``char`` into ``board`` at each (row, column) of ``cells`` (host-side drawing)."""
    for r, c in np.asarray(cells).reshape(-1, 2):
        board[int(r)][int(c)] = char
    return board


def as_text(board: list[list[str]]) -> list[str]:
    return ["".join(row) for row in board]

"""Record one episode of a policy and save it as PNG frames, an animated GIF, or an HTML viewer.

Any env with a ``render(state) -> uint8 [H, W, 3]`` method gives frames (the lab's gridworlds,
point masses and DeepSea have one); Brax envs have ``render_html(states)`` instead (Brax's
three.js viewer). The episode is stepped in one ``lax.scan`` on the device; frames are drawn on
the host afterwards.
"""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np

from envs.core import Env, State
from envs.episodes import ActFn, scan_episode


def random_actions(env: Env) -> ActFn:
    """Uniformly random actions for ``env``'s action space."""
    return lambda obs, key: env.action_space.sample(key)


def record_episode(env: Env, act: ActFn, key: jax.Array, max_steps: int = 1000) -> list[State]:
    """The states of one episode, from reset to its last step (at most ``max_steps`` steps)."""
    if not (has_frames(env) or has_html(env)):
        raise TypeError(f"{type(env.unwrapped).__name__} has no render(state) or render_html(states) method")
    run = jax.jit(lambda k: scan_episode(env, act, k, max_steps, lambda state, action, nxt: nxt))
    first, steps = jax.device_get(run(key))
    done = np.asarray(steps.done) > 0
    length = int(np.argmax(done)) + 1 if done.any() else max_steps
    return [first] + [jax.tree.map(lambda x, i=i: x[i], steps) for i in range(length)]


def has_frames(env: Env) -> bool:
    return hasattr(env.unwrapped, "render")


def has_html(env: Env) -> bool:
    return hasattr(env.unwrapped, "render_html")


def save_html(env: Env, states: list[State], path: str | Path) -> Path:
    """Writes the episode as a standalone HTML viewer (Brax envs)."""
    if not has_html(env):
        raise TypeError(f"{type(env.unwrapped).__name__} has no render_html(states) method")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(env.unwrapped.render_html(states))
    return path


def frames(env: Env, states: list[State], **render_kwargs) -> list[np.ndarray]:
    return [np.asarray(env.render(s, **render_kwargs)) for s in states]


def save_gif(images: list[np.ndarray], path: str | Path, fps: float = 8.0) -> Path:
    """Writes an animated GIF that loops forever."""
    from PIL import Image

    if not images:
        raise ValueError("save_gif needs at least one frame")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pil = [Image.fromarray(np.asarray(f, np.uint8)) for f in images]
    pil[0].save(path, save_all=True, append_images=pil[1:], duration=int(1000 / fps), loop=0)
    return path


def save_pngs(images: list[np.ndarray], directory: str | Path, prefix: str = "frame") -> list[Path]:
    """Writes ``<directory>/<prefix>_0000.png``, ... one file per frame."""
    from PIL import Image

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = [directory / f"{prefix}_{i:04d}.png" for i in range(len(images))]
    for image, p in zip(images, paths):
        Image.fromarray(np.asarray(image, np.uint8)).save(p)
    return paths

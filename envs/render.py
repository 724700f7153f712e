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


def frames(env: Env, states: list[State], annotate: bool = True, **render_kwargs) -> list[np.ndarray]:
    """The episode's frames (``env.render``). With ``annotate``, a strip under each one shows the
    step, the visible and the true return so far (where they part, the agent is hacking the reward),
    and for gridworlds (envs with ``board(state)``) a legend of the colours on the board in this
    episode; every frame of an episode has the same size."""
    images = [np.asarray(env.render(s, **render_kwargs)) for s in states]
    if not annotate or not images:
        return images
    steps = states[1:]
    visible = np.cumsum([0.0] + [float(s.reward) for s in steps])
    true = np.cumsum([0.0] + [float(s.info["true_reward"]) if "true_reward" in s.info else np.nan for s in steps])
    entries = _legend(env, states)
    width = max(images[0].shape[1], _MIN_WIDTH)
    lines = _legend_rows(entries, width)
    return [_annotate(image, f"step {i}/{len(steps)}, returns so far:", f"visible {visible[i]:.2f}   true {true[i]:.2f}",
                      lines, width) for i, image in enumerate(images)]


_MIN_WIDTH, _LINE, _PAD, _SWATCH = 220, 15, 5, 10
_BACKGROUND, _TEXT = (255, 255, 255), (20, 20, 20)


def _font():
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=12)  # a scalable font (Pillow >= 10.1 with FreeType)
    except (TypeError, OSError, ImportError):
        return ImageFont.load_default()


def _legend(env: Env, states: list[State]) -> list[tuple[str, tuple[int, int, int]]]:
    """The colours on the episode's boards with their meaning (gridworlds only)."""
    base = env.unwrapped
    if not hasattr(base, "board"):
        return []
    from envs.lab.grid import legend

    chars = {ch for s in states for row in base.board(s) for ch in row}
    return legend(chars, getattr(base, "legend", None))


def _legend_rows(entries, width: int) -> list[list[tuple[str, tuple[int, int, int]]]]:
    """Legend entries flowed into rows that fit ``width`` pixels."""
    from PIL import Image, ImageDraw

    measure, font = ImageDraw.Draw(Image.new("RGB", (1, 1))), _font()
    rows, row, used = [], [], _PAD
    for label, color in entries:
        size = _SWATCH + 3 + int(measure.textlength(label, font=font)) + 8
        if row and used + size > width:
            rows.append(row)
            row, used = [], _PAD
        row.append((label, color))
        used += size
    return rows + ([row] if row else [])


def _annotate(image: np.ndarray, step: str, returns: str, legend_rows, width: int) -> np.ndarray:
    from PIL import Image, ImageDraw

    height, image_width = image.shape[:2]
    canvas = Image.new("RGB", (width, height + _PAD + _LINE * (2 + len(legend_rows)) + _PAD), _BACKGROUND)
    canvas.paste(Image.fromarray(np.asarray(image, np.uint8)), ((width - image_width) // 2, 0))
    draw, font = ImageDraw.Draw(canvas), _font()
    y = height + _PAD
    draw.text((_PAD, y), step, fill=_TEXT, font=font)
    draw.text((_PAD, y + _LINE), returns, fill=_TEXT, font=font)
    y += 2 * _LINE
    for row in legend_rows:
        x = _PAD
        for label, color in row:
            draw.rectangle([x, y + 3, x + _SWATCH, y + 3 + _SWATCH], fill=tuple(color), outline=(0, 0, 0))
            x += _SWATCH + 3
            draw.text((x, y), label, fill=_TEXT, font=font)
            x += int(draw.textlength(label, font=font)) + 8
        y += _LINE
    return np.asarray(canvas)


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

"""Shared helpers for benchmarks: result files (and reading them back) and a bar plot."""

from __future__ import annotations

import csv
import platform
import textwrap
import time
from pathlib import Path

import jax
import numpy as np

from jrew.provenance import write_json

RESULTS = Path(__file__).parent / "results"
PALETTE = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3"]  # the benchmark figures' colours


def machine() -> dict[str, str]:
    device = jax.devices()[0]
    return {
        "platform": device.platform,
        "device": getattr(device, "device_kind", str(device)),
        "device_count": str(jax.device_count()),
        "python": platform.python_version(),
        "jax": jax.__version__,
    }


def write_results(name: str, rows: list[dict], meta: dict) -> tuple[Path, Path]:
    """Writes ``results/<name>.json`` (rows + meta) and ``results/<name>.csv`` (rows). The meta
    starts with the provenance (command, commit, time: ``jrew.provenance``), then ``meta`` (seeds,
    settings: pass ``vars(args)``)."""
    json_path, csv_path = write_json(RESULTS / f"{name}.json", rows, **meta), RESULTS / f"{name}.csv"
    with csv_path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return json_path, csv_path


def load_results(name: str) -> tuple[list[dict], dict]:
    """``(rows, meta)`` of ``results/<name>.json``: what a script's ``--replot`` redraws its figure from."""
    import json

    data = json.loads((RESULTS / f"{name}.json").read_text())
    return data["rows"], data["meta"]


def bar_plot(
    name: str, labels: list[str], values: list[float], ylabel: str, title: str, reference: tuple[float, str] | None = None
) -> Path:
    """``results/<name>.png`` (and .pdf, .svg): one labelled bar per value, and an optional dashed
    reference line (its legend under the axes); room above the bars for their labels."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import EngFormatter

    from jrew import plotting

    many = len(values) > 5
    fig, ax = plt.subplots(figsize=(9 if many else 7, 4.2 if many else 3.6), dpi=120, layout="constrained")
    labels = [textwrap.fill(label, 18) for label in labels]  # long names on two lines, not into their neighbours
    bars = ax.bar(labels, values, color=[PALETTE[i % len(PALETTE)] for i in range(len(values))])
    ax.bar_label(bars, labels=[f"{v:,.0f}" for v in values], fontsize=7 if many else 8, padding=2)
    ax.set_ylim(0, max([*values, reference[0] if reference else 0]) * 1.12)  # the bar labels inside the frame
    ax.yaxis.set_major_formatter(EngFormatter(sep=""))  # 10M, not 1e7 over the axis
    if reference is not None:
        ax.axhline(reference[0], color="black", linestyle="--", linewidth=1, label=reference[1])
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.tick_params(axis="x", labelsize=8, rotation=30 if many else 0)
    if many:
        plt.setp(ax.get_xticklabels(), ha="right")
    if reference is not None:
        fig.legend(loc="outside lower center", frameon=False, fontsize=8)
    return plotting.save(fig, RESULTS / f"{name}.png")


def time_jitted(fn, calls: list[tuple]) -> tuple[float, float]:
    """``(compile seconds, median seconds per call)`` of ``jax.jit(fn)``: the first inputs of
    ``calls`` compile it (that call's wall time), the others are timed one call each."""
    fn = jax.jit(fn)
    start = time.perf_counter()
    jax.block_until_ready(fn(*calls[0]))
    compile_seconds = time.perf_counter() - start
    seconds = []
    for inputs in calls[1:]:
        start = time.perf_counter()
        jax.block_until_ready(fn(*inputs))
        seconds.append(time.perf_counter() - start)
    return compile_seconds, float(np.median(seconds))


def raw_steps_per_second(env, num_envs: int, num_steps: int, repeats: int = 5) -> tuple[float, float]:
    """(env steps/s, compile seconds) of ``num_envs`` batched envs under random actions.

    The steps run in one jitted ``lax.scan`` (auto-reset included, as training runs them); the
    rate is the median over ``repeats`` timed calls after the compile.
    """
    from jrew.rollout import random_policy, rollout

    policy = random_policy(env.action_space)

    def run(key):
        state = jax.vmap(env.reset)(jax.random.split(key, num_envs))
        traj = rollout(env, policy, state, key, num_steps)[1]
        return traj.reward.sum() + traj.next_obs.sum()  # depend on the dynamics, or XLA drops them

    compile_seconds, seconds = time_jitted(run, [(jax.random.PRNGKey(i),) for i in range(repeats + 1)])
    return num_envs * num_steps / seconds, compile_seconds

"""Shared helpers for benchmarks: result files and a ratio bar plot."""

from __future__ import annotations

import csv
import json
import platform
from pathlib import Path

import jax

RESULTS = Path(__file__).parent / "results"


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
    """Writes ``results/<name>.json`` (rows + meta) and ``results/<name>.csv`` (rows)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    json_path, csv_path = RESULTS / f"{name}.json", RESULTS / f"{name}.csv"
    json_path.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2, allow_nan=False) + "\n")
    with csv_path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return json_path, csv_path


def bar_plot(name: str, labels: list[str], values: list[float], ylabel: str, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.6), dpi=120)
    bars = ax.bar(labels, values, color=["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3"][: len(values)])
    ax.bar_label(bars, labels=[f"{v:,.0f}" for v in values], fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.tick_params(axis="x", labelsize=8)
    fig.tight_layout()
    path = RESULTS / f"{name}.png"
    fig.savefig(path)
    plt.close(fig)
    return path

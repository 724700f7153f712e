"""Figures (matplotlib, no display needed; no training code): learning curves of run directories and
of a ``jrew bench`` folder, interval estimates and performance profiles.

Every figure is written as the PNG asked for with a PDF and an SVG beside it (vector formats for
papers; the PDF embeds TrueType fonts, and both are byte-reproducible: no dates, fixed ids).

* ``plot_run(run_dir)``: a metric vs env steps, per variant the mean over seeds with a 95% bootstrap
  CI band; ``visible=True`` overlays the visible (env) return, dashed, on the true return;
* ``plot_runs([run_a, run_b, ...])``: one figure, one line and band per run directory (and variant);
* ``plot_bench(folder)``: a ``jrew bench`` output folder, one figure per task, a line per variant;
* ``plot_intervals`` / ``plot_profiles``: rliable-style interval estimates and performance profiles.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import EngFormatter, MaxNLocator

from jrew import stats
from jrew.run_dir import INDEX_COLUMNS, has_run, load_metrics, read_config

# the visible (env) return logged beside each true return: a gap between them is reward hacking
VISIBLE_OF = {"true_return": "env_return", "eval/true_return": "eval/return"}
VECTOR_FORMATS = (".pdf", ".svg")
LINESTYLES = ("-", (0, (5, 2)), (0, (1, 1.5)), (0, (5, 1.5, 1, 1.5)))  # solid, dashed, dotted, dash-dot
BAND_NOTE = "lines: mean over seeds; bands: 95% bootstrap CI"
_STYLE = {"pdf.fonttype": 42, "ps.fonttype": 42, "svg.hashsalt": "jrew", "axes.titlesize": 10,
          "axes.labelsize": 9, "xtick.labelsize": 8, "ytick.labelsize": 8, "legend.fontsize": 8}


def save(fig, path: str | Path) -> Path:
    """Writes ``fig`` to ``path`` and, for a PNG, the same figure as PDF and SVG beside it; closes it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with plt.rc_context(_STYLE):
        fig.savefig(path, dpi=150, bbox_inches="tight", metadata=_metadata(path.suffix))
        if path.suffix.lower() == ".png":
            for suffix in VECTOR_FORMATS:
                fig.savefig(path.with_suffix(suffix), bbox_inches="tight", metadata=_metadata(suffix))
    plt.close(fig)
    return path


def _metadata(suffix: str) -> dict:
    """No creation dates, so that rewriting an unchanged figure leaves its file unchanged."""
    return {".pdf": {"CreationDate": None}, ".svg": {"Date": None}}.get(suffix.lower(), {})


def colors_for(names: Sequence[str]) -> dict[str, tuple]:
    """A fixed colour per name, in order (tab10, then tab20): the same variant, the same colour."""
    palette = plt.get_cmap("tab10" if len(names) <= 10 else "tab20")
    return {name: palette(i % palette.N) for i, name in enumerate(names)}


def legend_below(ax, handles=None, labels=None, columns: int | None = None) -> None:
    """The legend under the axes (never over a line)."""
    if handles is None:
        handles, labels = ax.get_legend_handles_labels()
    if not handles:
        return
    longest = max(len(label) for label in labels)
    columns = columns or min(len(handles), 1 if longest > 45 else 2 if longest > 22 else 4)
    ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=columns, frameon=False,
              fontsize=8)


# ---------------------------------------------------------------- learning curves


def plot_run(run_dir: str | Path, metric: str = "true_return", out: str | Path | None = None,
             visible: bool = False) -> Path:
    """Plots ``metric`` vs env steps per seed: for each reward variant the mean across seeds with a
    95% bootstrap CI band (rliable). With ``visible`` and a true return (``true_return``,
    ``eval/true_return``), the visible (env) return of the same episodes is drawn dashed in the same
    colour. Writes ``run_dir/<metric>.png`` (and .pdf, .svg) unless ``out`` is given; returns the path.
    """
    run_dir = Path(run_dir)
    metrics = load_metrics(run_dir)
    _check_metric(metrics, metric, run_dir)
    partner = VISIBLE_OF.get(metric) if visible else None
    partner = partner if partner in metrics else None
    labels = _variant_labels(run_dir)
    curves, styles = {}, {}
    variants = np.unique(metrics["variant"])
    colors = colors_for([str(v) for v in variants])
    for variant in variants:
        values = metrics[metric][metrics["variant"] == variant]
        label = labels[variant] if len(labels) > 1 else f"mean over {values.shape[0]} seeds"
        name = f"{label}: true" if partner and len(labels) > 1 else ("true return" if partner else label)
        curves[name] = (metrics["env_steps"], values)
        styles[name] = {"color": colors[str(variant)], "linestyle": "-"}
        if partner:
            seen = f"{label}: visible" if len(labels) > 1 else "visible (env) return"
            curves[seen] = (metrics["env_steps"], metrics[partner][metrics["variant"] == variant])
            styles[seen] = {"color": colors[str(variant)], "linestyle": "--"}
    path = Path(out) if out is not None else run_dir / f"{metric.replace('/', '_')}.png"
    ylabel = metric.replace("_", " ") if not partner else f"{metric.replace('_', ' ')} (solid) / visible (dashed)"
    title = run_dir.name if not partner else f"{run_dir.name}: true vs visible return"
    return plot_curves(curves, ylabel, title, path, styles)


def plot_runs(run_dirs: Sequence[str | Path], metric: str = "true_return", out: str | Path | None = None,
              title: str | None = None) -> Path:
    """One figure of ``metric`` for several run directories: a line (mean over seeds) and 95% CI band
    per run directory and variant. Writes ``out`` (default: ``<metric>_<first>_vs_<last>.png`` in the
    first run directory's parent)."""
    run_dirs = [Path(d) for d in run_dirs]
    curves = {}
    for run_dir in run_dirs:
        metrics = load_metrics(run_dir)
        _check_metric(metrics, metric, run_dir)
        labels = _variant_labels(run_dir)
        for variant in np.unique(metrics["variant"]):
            name = run_dir.name if len(labels) <= 1 else f"{run_dir.name}: {labels[variant]}"
            curves[_unique(name, curves)] = (metrics["env_steps"], metrics[metric][metrics["variant"] == variant])
    stem = metric.replace("/", "_")
    path = Path(out) if out is not None else (
        run_dirs[0].parent / f"{stem}_{run_dirs[0].name}_vs_{run_dirs[-1].name}.png")
    return plot_curves(curves, metric.replace("_", " "), title or f"{metric} of {len(run_dirs)} runs", path)


def is_bench_folder(path: str | Path) -> bool:
    """Whether ``path`` is a ``jrew bench`` output folder (runs under ``runs/<task>/<group>``)."""
    return (Path(path) / "plan.json").exists() or bool(bench_runs(path))


def bench_runs(folder: str | Path) -> dict[str, list[Path]]:
    """``{task: [group run directories]}`` of a ``jrew bench`` output folder."""
    out = {}
    for run_dir in sorted(Path(folder).glob("runs/*/*")):
        if has_run(run_dir):
            out.setdefault(run_dir.parent.name, []).append(run_dir)
    return out


def plot_bench(folder: str | Path, metric: str | None = None, out: str | Path | None = None) -> list[Path]:
    """One figure per task of a ``jrew bench`` folder: ``metric`` (default ``eval/true_return`` when
    every run has it, else ``true_return``), a line (mean over seeds, 95% CI band) per variant over
    all the task's groups. Writes ``<out or folder>/plot_<metric>_<task>.png`` (and .pdf, .svg)."""
    folder = Path(folder)
    tasks = bench_runs(folder)
    if not tasks:
        raise FileNotFoundError(f"no runs in {folder}/runs/<task>/<group>: not a jrew bench folder, or nothing ran")
    loaded = {task: [(d, load_metrics(d)) for d in dirs] for task, dirs in tasks.items()}
    if metric is None:
        everywhere = all("eval/true_return" in m for runs in loaded.values() for _, m in runs)
        metric = "eval/true_return" if everywhere else "true_return"
    names = list(dict.fromkeys(label for runs in loaded.values() for d, _ in runs for label in _group_labels(d)))
    colors = colors_for(names)
    target = Path(out) if out is not None else folder
    paths = []
    for task, runs in loaded.items():
        curves, styles = {}, {}
        for run_dir, metrics in runs:
            _check_metric(metrics, metric, run_dir)
            for variant, label in enumerate(_group_labels(run_dir)):
                curves[label] = (metrics["env_steps"], metrics[metric][metrics["variant"] == variant])
                styles[label] = {"color": colors[label]}
        path = target / f"plot_{metric.replace('/', '_')}_{task}.png"
        paths.append(plot_curves(curves, metric.replace("_", " "), f"{folder.name}: {task}", path, styles))
    return paths


def plot_curves(curves: dict[str, tuple[np.ndarray, np.ndarray]], ylabel: str, title: str, path: str | Path,
                styles: dict[str, dict] | None = None) -> Path:
    """One line per label: ``(env_steps [U], values [num_seeds, U])`` as the mean across seeds with a
    95% bootstrap CI band (rliable); ``styles``: matplotlib line settings per label (colour, linestyle).
    Writes ``path`` (and .pdf, .svg beside a PNG) and returns it."""
    styles = styles or {}
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(6.4, 4))
        for i, (label, (steps, values)) in enumerate(curves.items()):
            style = {"linestyle": LINESTYLES[i % len(LINESTYLES)], **styles.get(label, {})}  # overlaps stay visible
            values = np.asarray(values, np.float64)
            logged = np.isfinite(values).any(axis=0)  # evaluation metrics exist at evaluation updates only
            steps, values = np.asarray(steps)[logged], values[:, logged]
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # no episode finished yet: NaN columns
                mean = np.nanmean(values, axis=0)
            low, high = stats.curve_interval(values)
            few = {"marker": "o", "markersize": 3} if len(steps) <= 12 else {}  # e.g. a few evaluations
            (line,) = ax.plot(steps, mean, label=label, linewidth=1.6, **few, **style)
            ax.fill_between(steps, low, high, alpha=0.18, color=line.get_color(), linewidth=0)
        ax.set_xlabel("env steps per seed")
        ax.set_ylabel(ylabel)
        ax.xaxis.set_major_formatter(EngFormatter(sep=""))
        ax.set_title(f"{title}\n{BAND_NOTE}", fontsize=9)
        ax.grid(alpha=0.3)
        ax.margins(x=0.02, y=0.06)
        legend_below(ax)
    return save(fig, path)


def _check_metric(metrics: dict, metric: str, run_dir: Path) -> None:
    if metric not in metrics or metric in INDEX_COLUMNS:
        names = sorted(k for k in metrics if k not in INDEX_COLUMNS)
        raise ValueError(f"unknown metric {metric!r}; {run_dir} has {names}")


def _unique(name: str, taken) -> str:
    candidate, i = name, 2
    while candidate in taken:
        candidate, i = f"{name} ({i})", i + 1
    return candidate


def _variant_labels(run_dir: Path) -> list[str]:
    if not has_run(run_dir):
        return []
    record = read_config(run_dir)
    return [label if len(label) <= 60 else label[:57] + "..." for label in record.variant_labels or record.rewards]


def _group_labels(run_dir: Path) -> list[str]:
    """A bench group's variant names: from the folder's plan.json, else config.json's labels."""
    plan = run_dir.parent.parent.parent / "plan.json"  # <folder>/runs/<task>/<group>
    if plan.exists():
        for group in json.loads(plan.read_text())["groups"]:
            if (group["task"], group["name"]) == (run_dir.parent.name, run_dir.name):
                return list(group["variants"])
    labels = read_config(run_dir).variant_labels
    return list(labels) if labels else [run_dir.name]


# ---------------------------------------------------------------- interval estimates, profiles


def plot_intervals(points: dict[str, np.ndarray], intervals: dict[str, np.ndarray], metric_names: Sequence[str],
                   title: str, path: str | Path, xlabel: str = "normalized score",
                   colors: dict[str, tuple] | None = None) -> Path:
    """Interval estimates: one panel per metric, one row per variant, its CI as a bar and its point
    estimate as a marker (so a zero-width CI still shows). ``points``: ``{variant: [metrics]}``,
    ``intervals``: ``{variant: [2 (low, high), metrics]}``. Panels keep a margin around their values;
    the title and the x label sit outside the panels."""
    names = list(points)
    colors = colors or colors_for(names)
    with plt.rc_context(_STYLE):
        fig, axes = plt.subplots(1, len(metric_names), sharey=True, squeeze=False, layout="constrained",
                                 figsize=(2.6 * len(metric_names) + 1.0, 0.9 + 0.32 * len(names)))
        for m, (ax, metric) in enumerate(zip(axes[0], metric_names)):
            lows = [float(intervals[n][0][m]) for n in names]
            highs = [float(intervals[n][1][m]) for n in names]
            centres = [float(points[n][m]) for n in names]
            for row, name in enumerate(names):
                ax.barh(row, highs[row] - lows[row], left=lows[row], height=0.6, color=colors[name], alpha=0.75,
                        linewidth=0)
                ax.plot([centres[row]], [row], marker="D", markersize=4.5, color=colors[name],
                        markeredgecolor="black", markeredgewidth=0.8, linestyle="none")
            finite = [v for v in lows + highs + centres if np.isfinite(v)]
            if finite:
                low, high = min(finite), max(finite)
                margin = max(0.08 * (high - low), 0.02 * max(abs(low), abs(high), 1.0))
                ax.set_xlim(low - margin, high + margin)
            ax.set_title(metric, fontsize=9)
            ax.xaxis.set_major_locator(MaxNLocator(nbins=4))
            ax.grid(axis="x", alpha=0.3)
            ax.spines[["top", "right", "left"]].set_visible(False)
            ax.tick_params(axis="y", length=0)
        axes[0][0].set_yticks(range(len(names)), names)
        axes[0][0].set_ylim(len(names) - 0.5, -0.5)  # the first variant on top
        fig.supxlabel(xlabel, fontsize=9)
        fig.suptitle(title, fontsize=10)
    return save(fig, path)


def plot_profiles(taus: np.ndarray, profiles: dict[str, np.ndarray], intervals: dict[str, np.ndarray], title: str,
                  path: str | Path, xlabel: str = r"normalized score $\tau$",
                  colors: dict[str, tuple] | None = None) -> Path:
    """Performance profiles: per variant the share of runs scoring above tau, with its CI band
    (``intervals``: ``{variant: [2, len(taus)]}``); the legend under the axes."""
    colors = colors or colors_for(list(profiles))
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(6.4, 4))
        for i, (name, profile) in enumerate(profiles.items()):
            ax.plot(taus, profile, color=colors[name], linewidth=1.8, label=name, linestyle=LINESTYLES[i % len(LINESTYLES)])
            if name in intervals:
                ax.fill_between(taus, intervals[name][0], intervals[name][1], color=colors[name], alpha=0.15,
                                linewidth=0)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(r"share of runs with score $> \tau$")
        ax.set_ylim(-0.03, 1.03)
        span = float(np.max(taus) - np.min(taus))
        ax.set_xlim(float(np.min(taus)) - 0.02 * span, float(np.max(taus)) + 0.02 * span)
        ax.set_title(title, fontsize=9)
        ax.grid(alpha=0.3)
        legend_below(ax, columns=min(len(profiles), 5))
    return save(fig, path)

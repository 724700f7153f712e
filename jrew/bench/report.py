"""A finished suite's results: Parquet tables, rliable statistics, plots and ``report.md``.

Every variant is scored on the task's true objective. A run's **score** is the last value of the
suite's score metric (``eval/true_return``: the last evaluation's mean over its episodes, or
``true_return``: the training episodes' mean at the last update), normalized by the task's
``score_range`` to [0, 1]. Tables:

* ``curves.parquet``: every logged metric per (task, variant, seed, update);
* ``scores.parquet``: per run the score, its normalization, the normalized area under the score
  curve, the env steps to the task's threshold, and the final visible (``env_return``), training
  (``train_return``, after the reward pipeline) and true returns of the training episodes;
* ``aggregates.parquet``: per task (and over all tasks) and variant, IQM / median / mean /
  optimality gap of normalized scores and the probability of improvement over the baseline, each
  with a 95% stratified-bootstrap CI (rliable);
* ``groups.parquet``: compile time and env steps/s of each compiled program.
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from jrew import plotting, stats
from jrew import run_dir as files
from jrew.bench.run import GROUPS_FILE, group_dir
from jrew.bench.suite import Suite

ALL_TASKS = "all tasks"


def collect(suite: Suite, out: Path) -> pd.DataFrame:
    """Every group's metrics as one long table (task, variant, seed, update, env_steps, metrics...).
    Without the groups' run directories (a published folder keeps only its tables), the table is
    ``curves.parquet`` of an earlier report, restricted to the suite's groups."""
    if not any(files.has_run(group_dir(out, g)) for g in suite.groups) and (out / "curves.parquet").exists():
        stored = pd.read_parquet(out / "curves.parquet")
        keep = {(g.task.key, g.name) for g in suite.groups}
        return stored[[k in keep for k in zip(stored.task, stored.group)]].reset_index(drop=True)
    frames = []
    for group in suite.groups:
        metrics = files.load_metrics(group_dir(out, group))
        num_runs = len(metrics["seed"])
        names = [v.name for v in group.variants]
        for run in range(num_runs):
            columns = {k: v[run] for k, v in metrics.items() if np.ndim(v) == 2}
            frame = pd.DataFrame(columns)
            frame.insert(0, "env_steps", metrics["env_steps"].astype(np.int64))
            frame.insert(0, "update", np.arange(1, len(frame) + 1))
            frame.insert(0, "seed", int(metrics["seed"][run]))
            frame.insert(0, "variant", names[int(metrics["variant"][run])])
            frame.insert(0, "group", group.name)
            frame.insert(0, "task", group.task.key)
            frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _last_finite(values: pd.Series) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.iloc[-1]) if len(finite) else float("nan")


def run_scores(suite: Suite, curves: pd.DataFrame) -> pd.DataFrame:
    """One row per run: score, normalized score, normalized AUC, steps to threshold, final returns."""
    tasks = {t.key: t for t in suite.tasks}
    metric, rows = suite.score_metric, []
    for (task_key, variant, seed), run in curves.groupby(["task", "variant", "seed"], sort=False):
        task = tasks[task_key]
        low, high = task.score_range
        logged = run[np.isfinite(run[metric])]
        steps, values = logged["env_steps"].to_numpy(), logged[metric].to_numpy()[None]
        score = _last_finite(run[metric])
        rows.append({
            "task": task_key, "variant": variant, "seed": seed, "score": score,
            "normalized_score": (score - low) / (high - low),
            "normalized_auc": float(stats.normalized_auc(steps, values, low, high)[0]) if len(steps) else np.nan,
            "steps_to_threshold": float(stats.steps_to_threshold(steps, values, task.threshold)[0]) if len(steps)
            else np.nan,
            "env_return": _last_finite(run["env_return"]), "train_return": _last_finite(run["train_return"]),
            "true_return": _last_finite(run["true_return"]),
        })
    return pd.DataFrame(rows)


def score_matrices(suite: Suite, scores: pd.DataFrame) -> dict[str, dict[str, np.ndarray]]:
    """``{task: {variant: [runs, 1]}}`` of normalized scores, plus ``ALL_TASKS``: ``[runs, tasks]``
    for the variants that ran on every task (with more than one task)."""
    out = {}
    for task in suite.tasks:
        here = scores[scores.task == task.key]
        out[task.key] = {v: g.sort_values("seed")["normalized_score"].to_numpy()[:, None]
                         for v, g in here.groupby("variant", sort=False)}
    if len(suite.tasks) > 1:
        common = [v for v in suite.variant_names if all(v in out[t.key] for t in suite.tasks)]
        if common:
            out[ALL_TASKS] = {v: np.concatenate([out[t.key][v] for t in suite.tasks], axis=1) for v in common}
    return out


def aggregates(suite: Suite, matrices: dict[str, dict[str, np.ndarray]], reps: int = 2000) -> pd.DataFrame:
    rows = []
    for task, by_variant in matrices.items():
        finite = {v: s for v, s in by_variant.items() if np.all(np.isfinite(s))}
        if not finite:
            continue
        estimates = stats.interval_estimates(finite, reps=reps)
        improvement = (stats.probability_of_improvement(finite, suite.baseline, reps=reps)
                       if suite.baseline in finite else {})
        for variant in by_variant:
            row = {"task": task, "variant": variant, "runs": by_variant[variant].shape[0]}
            for name, (point, low, high) in estimates.get(variant, {}).items():
                row.update({name: point, f"{name}_low": low, f"{name}_high": high})
            if variant in improvement:
                p, low, high = improvement[variant]
                row.update({"p_improvement": p, "p_improvement_low": low, "p_improvement_high": high})
            rows.append(row)
    return pd.DataFrame(rows)


def groups_table(suite: Suite, out: Path) -> pd.DataFrame:
    """Per compiled program (in the suite's order): its runs, compile time and training env steps/s."""
    if not (out / GROUPS_FILE).exists() and (out / "groups.parquet").exists():  # a published folder: its table
        return pd.read_parquet(out / "groups.parquet")
    records = json.loads((out / GROUPS_FILE).read_text()) if (out / GROUPS_FILE).exists() else {}
    rows = []
    for group in suite.groups:
        run_dir = str(group_dir(out, group).relative_to(out))
        if run_dir not in records:
            continue
        r = records[run_dir]
        steps = r["trained_updates"] * r["steps_per_update_per_run"] * r["runs"]
        rows.append({"run_dir": run_dir, "task": r["task"], "group": r["group"], "algo": r["algo"],
                     "variants": len(r["variants"]), "runs": r["runs"], "compile_seconds": r["compile_seconds"],
                     "train_seconds": r["train_seconds"], "env_steps_per_second": steps / max(r["train_seconds"], 1e-9)})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- plots
# Every figure is a PNG with a PDF and an SVG beside it (jrew.plotting.save). Within a task's figures a
# variant keeps its colour: colours go to the variants a figure shows in the suite's order.


def _colors(suite: Suite, names) -> dict[str, tuple]:
    present = set(names)
    return plotting.colors_for([v for v in suite.variant_names if v in present])


def plot_curves(suite: Suite, curves: pd.DataFrame, out: Path) -> list[Path]:
    paths = []
    for task in suite.tasks:
        here = curves[curves.task == task.key]
        colors = _colors(suite, here.variant.unique())
        lines = {}
        for variant, g in here.groupby("variant", sort=False):
            table = g.pivot(index="seed", columns="env_steps", values=suite.score_metric)
            lines[variant] = (table.columns.to_numpy(), table.to_numpy())
        paths.append(plotting.plot_curves(lines, suite.score_metric.replace("_", " "), f"{suite.name}: {task.key}",
                                          out / f"curves_{task.key}.png", {v: {"color": colors[v]} for v in lines}))
    return paths


def plot_intervals(suite: Suite, matrices, aggregates_table: pd.DataFrame, out: Path) -> list[Path]:
    paths = []
    for task in matrices:
        here = aggregates_table[aggregates_table.task == task].dropna(subset=["iqm"])
        if here.empty:
            continue
        names = [v for v in suite.variant_names if v in set(here.variant)]
        points = {v: here.loc[here.variant == v, list(stats.AGGREGATES)].to_numpy()[0] for v in names}
        cis = {v: np.stack([here.loc[here.variant == v, [f"{a}_low" for a in stats.AGGREGATES]].to_numpy()[0],
                            here.loc[here.variant == v, [f"{a}_high" for a in stats.AGGREGATES]].to_numpy()[0]])
               for v in names}
        paths.append(plotting.plot_intervals(
            points, cis, ["IQM", "Median", "Mean", "Optimality gap"],
            f"{task}: 95% stratified bootstrap CIs (rliable); diamond: point estimate",
            out / f"intervals_{task.replace(' ', '_')}.png", colors=_colors(suite, names)))
    return paths


def plot_profiles(suite: Suite, matrices, out: Path, reps: int = 2000) -> list[Path]:
    paths = []
    taus = np.linspace(0.0, 1.0, 41)
    for task, by_variant in matrices.items():
        finite = {v: s for v, s in by_variant.items() if np.all(np.isfinite(s))}
        if not finite:
            continue
        profiles, cis = stats.performance_profiles(finite, taus, reps=reps)
        paths.append(plotting.plot_profiles(
            taus, profiles, cis, f"{task}: performance profiles (share of runs > tau, 95% CIs)",
            out / f"profiles_{task.replace(' ', '_')}.png", colors=_colors(suite, profiles)))
    return paths


def plot_proxy_vs_true(suite: Suite, scores: pd.DataFrame, out: Path) -> list[Path]:
    paths = []
    for task in suite.tasks:
        here = scores[scores.task == task.key]
        colors = _colors(suite, here.variant.unique())
        with plt.rc_context(plotting._STYLE):
            fig, ax = plt.subplots(figsize=(6.4, 4))
            for i, (variant, g) in enumerate(here.groupby("variant", sort=False)):
                # hollow markers of shrinking size and distinct shapes: runs on the same point all show
                ax.scatter(g["env_return"], g["true_return"], label=variant, s=max(64 - 10 * i, 14),
                           marker="osD^v<>ph"[i % 9], facecolors="none", edgecolors=colors[variant], linewidths=1.2)
            ax.set_xlabel("visible (env) return of the last training episodes")
            ax.set_ylabel("true return of the last training episodes")
            ax.set_title(f"{task.key}: proxy vs true, one point per run", fontsize=9)
            ax.grid(alpha=0.3)
            ax.margins(0.06)
            plotting.legend_below(ax, columns=min(here.variant.nunique(), 5))
        paths.append(plotting.save(fig, out / f"proxy_vs_true_{task.key}.png"))
    return paths


# ---------------------------------------------------------------- report


def _ci(row, name: str, digits: int = 2) -> str:
    if name not in row or not np.isfinite(row[name]):
        return "-"
    return f"{row[name]:.{digits}f} [{row[f'{name}_low']:.{digits}f}, {row[f'{name}_high']:.{digits}f}]"


def _schedule(ev) -> str:
    policy = "deterministic (policy mode)" if ev.deterministic else "stochastic"
    limit = f"at most {ev.max_steps} steps" if ev.max_steps else "up to the time limit"
    return f"{ev.episodes} {policy} episodes every {ev.every} updates, key seed {ev.seed}, {limit}"


def markdown(suite: Suite, scores: pd.DataFrame, aggregates_table: pd.DataFrame, groups: pd.DataFrame,
             figures: list[Path], out: Path) -> str:
    if suite.score == "eval":
        schedules = "; ".join(dict.fromkeys(f"{g.task.key} ({g.algo}): {_schedule(g.evaluation)}" for g in suite.groups))
        protocol = f"the last evaluation's mean true return (evaluations: {schedules})"
    else:
        protocol = "the mean true return of the training episodes that finished by the last update"
    steps = {g.task.key: g.variants[0].config.total_steps for g in suite.groups}
    budgets = ", ".join(f"{task}: {n:,}" for task, n in steps.items())
    lines = [
        f"# {suite.name}", "",
        suite.description, "",
        f"- **Score**: {protocol}; normalized by each task's score range. Always the task's true objective.",
        (f"- **Runs**: seeds {suite.seeds[0]}..{suite.seeds[-1]} ({len(suite.seeds)}) per variant; env steps per "
         f"run: {budgets}."),
        (f"- **Statistics**: rliable (Agarwal et al. 2021) stratified bootstrap, 95% CIs; P(improvement) is over "
         f"the baseline `{suite.baseline}` (0.5 = no difference)."),
        "",
    ]
    tasks = {t.key: t for t in suite.tasks}
    for task in [*tasks, *([a for a in aggregates_table.task.unique() if a not in tasks])]:
        agg = aggregates_table[aggregates_table.task == task]
        title = task if task not in tasks else f"{task} (`{tasks[task].env}`, score range {tasks[task].score_range})"
        lines += [f"## {title}", "",
                  ("| variant | runs | IQM | median | mean | optimality gap | P(> baseline) | AUC | solved | "
                   "steps to threshold | visible return | true return |"),
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for _, row in agg.iterrows():
            if task in tasks:
                s = scores[(scores.task == task) & (scores.variant == row.variant)]
                solved = int((s.score >= tasks[task].threshold).sum())
                reached = np.isfinite(s.steps_to_threshold)
                steps = f"{np.median(s.steps_to_threshold[reached]):,.0f} ({reached.sum()})" if reached.any() else "-"
                extra = f"{s.normalized_auc.mean():.2f} | {solved}/{len(s)} | {steps} | "
                extra += f"{s.env_return.mean():.2f} | {s.true_return.mean():.2f}"
            else:
                extra = "- | - | - | - | -"
            lines.append(f"| {row.variant} | {row.runs} | {_ci(row, 'iqm')} | {_ci(row, 'median')} | "
                         f"{_ci(row, 'mean')} | {_ci(row, 'optimality_gap')} | {_ci(row, 'p_improvement')} | {extra} |")
        lines.append("")
    lines += [("IQM, median, mean and optimality gap are of normalized scores. AUC: mean normalized area under the "
               "score curve (1 = optimal from the first evaluation). Solved: runs whose final score reaches the task's "
               "threshold. Steps to threshold: the median env step at which the score curve first reached it (over "
               "the runs that did, in parentheses). Visible / true return: means of the training episodes' last "
               "values (a gap between them is reward hacking)."), ""]
    if not groups.empty:
        lines += ["## Programs", "", "| task | group | algo | variants | runs | compile s | env steps/s |",
                  "|---|---|---|---|---|---|---|"]
        for _, g in groups.iterrows():
            lines.append(f"| {g.task} | {g.group} | {g.algo} | {g.variants} | {g.runs} | {g.compile_seconds:.1f} | "
                         f"{g.env_steps_per_second:,.0f} |")
        lines.append("")
    lines += ["## Figures", "", "Each figure is also written as PDF and SVG beside the PNG (same name).", ""]
    lines += [f"![{p.stem}]({p.name})" for p in figures] + [""]
    return "\n".join(lines)


def write(suite: Suite, out: str | Path, reps: int = 2000, progress: bool = True) -> Path:
    """Writes the tables, plots and ``report.md`` of the finished suite in ``out``; returns the report's
    path. Rerunning it on a folder that has only the tables (``curves.parquet``, ``groups.parquet``)
    redraws the figures and the report from them: the statistics are seeded, so the tables come out
    the same. ``progress``: a progress bar on stderr (the bootstraps take a while)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    out = Path(out)
    with Progress(TextColumn("[bold]report"), BarColumn(bar_width=20), MofNCompleteColumn(),
                  TextColumn("{task.description}"), TimeElapsedColumn(), console=Console(stderr=True),
                  disable=not progress) as bar:
        task = bar.add_task("reading the runs' metrics", total=7)

        def step(description: str) -> None:
            bar.update(task, advance=1, description=description)

        curves = collect(suite, out)
        step("scores")
        scores = run_scores(suite, curves)
        matrices = score_matrices(suite, scores)
        step(f"bootstrap CIs ({reps} resamples)")
        aggregates_table = aggregates(suite, matrices, reps)
        groups = groups_table(suite, out)
        curves.to_parquet(out / "curves.parquet", index=False)
        scores.to_parquet(out / "scores.parquet", index=False)
        aggregates_table.to_parquet(out / "aggregates.parquet", index=False)
        groups.to_parquet(out / "groups.parquet", index=False)
        step("learning curves")
        figures = plot_curves(suite, curves, out)
        step("interval estimates")
        figures += plot_intervals(suite, matrices, aggregates_table, out)
        step(f"performance profiles ({reps} resamples)")
        figures += plot_profiles(suite, matrices, out, reps)
        step("proxy vs true")
        figures += plot_proxy_vs_true(suite, scores, out)
        step("report.md")
        path = out / "report.md"
        path.write_text(markdown(suite, scores, aggregates_table, groups, figures, out))
    return path

"""jrew's runs beside the gymnax baselines' own trainer on one env: learning curves, and how far
apart their returns are, with 95% intervals over seeds.

    python -m benchmarks.compare_curves \\
        --blines-curves benchmarks/results/blines_trainer_Asterix-MinAtar_curves.csv \\
        --jrew "jrew, published config=RUN_DIR" "jrew, their init=RUN_DIR2" --name asterix_vs_blines

Both sides are sampled-action episodes of the true reward. The trainer's curve is its evaluation
log (164 episodes a point, ``benchmarks.blines_trainer``); jrew's is the return of its training
episodes (``true_return``), and its final point the run's last evaluation (``eval/true_return``).
A seed's final evaluation is one noisy point of its curve, so each seed is also scored by its
*late* return: the mean over the last ``--late`` fraction of the steps (the trainer's evaluations
there, jrew's training episodes there). For each jrew run, the difference to the trainer is given
with Welch's t-test and a bootstrap interval (seeds resampled within each side).

Writes results/<name>.{json,csv} (a row per seed) and results/<name>.png.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
from scipy import stats as scipy_stats

import jrew
from benchmarks.common import PALETTE, RESULTS, machine, write_results
from benchmarks.reproduce import mean_ci

TRAINER = "gymnax-blines trainer"


def trainer_curves(path: Path) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """``{seed: (env_steps, eval_return)}`` from ``blines_trainer``'s ``*_curves.csv``."""
    by_seed: dict[int, list[tuple[float, float]]] = {}
    with path.open() as f:
        for row in csv.DictReader(f):
            by_seed.setdefault(int(row["seed"]), []).append((float(row["env_steps"]), float(row["eval_return"])))
    return {seed: tuple(np.array(col) for col in zip(*sorted(points))) for seed, points in by_seed.items()}


def jrew_curves(run_dir: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(env_steps [U], true_return [runs, U], final eval/true_return [runs])`` of a jrew run."""
    metrics = jrew.load_metrics(run_dir)
    if "eval/true_return" not in metrics:
        raise SystemExit(f"{run_dir} has no eval/true_return: train it with an evaluation")
    evals = metrics["eval/true_return"]
    finals = np.array([row[~np.isnan(row)][-1] for row in evals])
    return metrics["env_steps"], metrics["true_return"], finals


def late_mean(steps: np.ndarray, values: np.ndarray, late: float) -> float:
    """Mean of ``values`` over the last ``late`` fraction of ``steps`` (at least the last point)."""
    window = steps >= steps[-1] * (1.0 - late)
    return float(np.nanmean(values[window]))


def difference(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """``mean(a) - mean(b)``, its 95% bootstrap interval and Welch's two-sided p-value."""
    boot = scipy_stats.bootstrap((a, b), lambda x, y, axis=-1: x.mean(axis) - y.mean(axis), n_resamples=10_000,
                                 random_state=0, method="percentile")
    return {"diff": float(a.mean() - b.mean()), "diff_ci_low": float(boot.confidence_interval.low),
            "diff_ci_high": float(boot.confidence_interval.high),
            "welch_p": float(scipy_stats.ttest_ind(a, b, equal_var=False).pvalue)}


def plot(name: str, trainer: dict, runs: dict, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.2), dpi=120)
    for steps, returns in trainer.values():
        ax.plot(steps / 1e6, returns, color="black", alpha=0.35, lw=0.8, marker=".", ms=3)
    grid_steps = min(len(s) for s, _ in trainer.values())
    ax.plot(trainer[min(trainer)][0][:grid_steps] / 1e6, np.mean([r[:grid_steps] for _, r in trainer.values()], 0),
            color="black", lw=2, label=f"{TRAINER} ({len(trainer)} seeds, evaluations)")
    for color, (label, (steps, returns, _)) in zip(PALETTE, runs.items()):
        smooth = max(1, len(steps) // 40)  # about as many points as the trainer's log
        kernel = np.ones(smooth) / smooth
        rows = np.array([np.convolve(np.nan_to_num(r), kernel, mode="valid") for r in returns])
        x = steps[smooth - 1:] / 1e6
        for row in rows:
            ax.plot(x, row, color=color, alpha=0.3, lw=0.8)
        ax.plot(x, rows.mean(0), color=color, lw=2, label=f"{label} ({len(rows)} seeds, training episodes)")
    ax.set_xlabel("env steps (millions)")
    ax.set_ylabel("return")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    path = RESULTS / f"{name}.png"
    fig.savefig(path)
    plt.close(fig)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--blines-curves", type=Path, required=True, help="benchmarks.blines_trainer's *_curves.csv")
    parser.add_argument("--jrew", nargs="+", required=True, metavar="LABEL=RUN_DIR", help="jrew run directories")
    parser.add_argument("--late", type=float, default=0.1, help="fraction of the budget the late return averages")
    parser.add_argument("--name", required=True, help="results/<name>.{json,csv,png}")
    parser.add_argument("--title", default="jrew beside the gymnax baselines' trainer")
    args = parser.parse_args()
    if not 0.0 < args.late <= 1.0:
        parser.error(f"--late must be in (0, 1], got {args.late}")
    runs = {}
    for item in args.jrew:
        label, sep, run_dir = item.rpartition("=")
        if not sep or not label:
            parser.error(f"--jrew takes LABEL=RUN_DIR, got {item!r}")
        runs[label] = jrew_curves(Path(run_dir))

    trainer = trainer_curves(args.blines_curves)
    rows = [{"source": TRAINER, "seed": seed, "final_return": float(r[-1]), "late_return": late_mean(s, r, args.late)}
            for seed, (s, r) in trainer.items()]
    for label, (steps, returns, finals) in runs.items():
        rows += [{"source": label, "seed": i, "final_return": float(finals[i]),
                  "late_return": late_mean(steps, returns[i], args.late)} for i in range(len(finals))]

    def scores(source, key):
        return np.array([r[key] for r in rows if r["source"] == source])

    meta = {**machine(), "late_fraction": args.late, "sources": {}}
    for source in [TRAINER, *runs]:
        entry = {"seeds": len(scores(source, "final_return"))}
        for key in ("final_return", "late_return"):
            mean, low, high = mean_ci(scores(source, key))
            entry[key] = {"mean": mean, "ci_low": low, "ci_high": high}
            if source != TRAINER:
                entry[key].update(difference(scores(source, key), scores(TRAINER, key)))
        meta["sources"][source] = entry
        print(f"{source}: " + "; ".join(
            f"{key.replace('_return', '')} {v['mean']:.2f} [{v['ci_low']:.2f}, {v['ci_high']:.2f}]"
            + (f", minus trainer {v['diff']:+.2f} [{v['diff_ci_low']:+.2f}, {v['diff_ci_high']:+.2f}] "
               f"p={v['welch_p']:.2f}" if "diff" in v else "")
            for key, v in entry.items() if key != "seeds"), flush=True)
    json_path, _ = write_results(args.name, rows, meta)
    print(f"results: {json_path}, {plot(args.name, trainer, runs, args.title)}")


if __name__ == "__main__":
    main()

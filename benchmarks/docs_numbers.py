"""The tables of README.md, docs/ and benchmarks/README.md, rendered from the committed result files.

    python -m benchmarks.docs_numbers            # rewrite every generated block in place
    python -m benchmarks.docs_numbers --check    # exit 1, naming each block whose text differs from its files

A generated block sits between two markers, in any of the files ``target_files`` lists (README.md,
benchmarks/README.md and the pages under docs/):

    <!-- generated: NAME (from path/one.json, path/two.parquet) -->
    ...the text this script renders...
    <!-- /generated -->

NAME is a key of ``BLOCKS`` below, and each block appears once, in whichever of those files it
fits. The paths in the opening marker are the block's source files, relative to the repository
root, and must be the ones its renderer reads. Renderers write links relative to the repository
root; each block's links are rewritten relative to the file that holds it. The labels of rows and
columns are written here; every number comes from the files. Bold marks follow a rule stated
beside each renderer (and in the caption beside the table), never a choice by hand.

Reads only pandas/pyarrow and json: no JAX, no training.
"""

from __future__ import annotations

import argparse
import json
import math
import posixpath
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


def target_files(root: Path = ROOT) -> list[str]:
    """The files that may hold generated blocks, relative to ``root``: the README, the benchmarks'
    README and every page under docs/ (those that exist)."""
    paths = ["README.md", "benchmarks/README.md", *(p.relative_to(root).as_posix()
                                                     for p in sorted((root / "docs").rglob("*.md")))]
    return [p for p in paths if (root / p).is_file()]

MINUS = "\u2212"
DASH = "\u2013"


# ---------------------------------------------------------------------------------------------
# formatting


def num(x: float, digits: int, *, signed_zero: bool = True, thousands: bool = False) -> str:
    """``x`` to ``digits`` decimals with a Unicode minus; ``signed_zero=False`` prints −0.000 as 0.000."""
    text = f"{x:,.{digits}f}" if thousands else f"{x:.{digits}f}"
    if not signed_zero and text.startswith("-") and set(text[1:]) <= set("0.,"):
        text = text[1:]
    return text.replace("-", MINUS)


def bold(text: str, on: bool = True) -> str:
    return f"**{text}**" if on else text


def ci(mean: str, low: str, high: str) -> str:
    return f"{mean} [{low}, {high}]"


def unique_best(values: list[str], key: Callable[[str], float] = float, lowest: bool = False) -> int | None:
    """Index of the one value that is strictly best at its printed precision, or None on a tie."""
    keyed = [(key(v), i) for i, v in enumerate(values) if v is not None]
    if not keyed:
        return None
    best = min(k for k, _ in keyed) if lowest else max(k for k, _ in keyed)
    winners = [i for k, i in keyed if k == best]
    return winners[0] if len(winners) == 1 else None


def signed(x: float, digits: int) -> str:
    """``num`` with an explicit + on a positive difference."""
    text = num(x, digits)
    return text if text.startswith(MINUS) or as_float(text) == 0 else "+" + text


def percent(x: float) -> str:
    """A fraction as a whole percent, or to one decimal under 1%."""
    return f"{100 * x:.0f}%" if 100 * x >= 1 else f"{100 * x:.1f}%"


def as_float(text: str) -> float:
    return float(text.replace(MINUS, "-").replace(",", ""))


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" if any(row) else "|" for row in rows]
    return "\n".join(re.sub(r"\|  (?=\|)", "| ", line) for line in lines)  # an empty cell is "| |"


_LINK = re.compile(r"(\]\()([^)\s]+)(\))")


def relink(text: str, where: str) -> str:
    """``text`` (links relative to the repository root) with its relative links rewritten for the
    file ``where`` (a path relative to the root)."""
    base = posixpath.dirname(where) or "."

    def fix(m: re.Match) -> str:
        url = m[2]
        if re.match(r"^[a-z][a-z0-9+.-]*:|^[#/]", url):  # a scheme, an anchor or an absolute path
            return m[0]
        path, _, anchor = url.partition("#")
        new = posixpath.relpath(posixpath.normpath(path), base) + (f"#{anchor}" if anchor else "")
        return m[1] + new + m[3]

    return text if base == "." else _LINK.sub(fix, text)


def read_json(path: str, *, rows: bool = False):
    """The file's JSON. ``rows=True``: its list of rows, from a file that is either that list or
    ``{"meta": ..., "rows": [...]}`` (the form the experiments write, with their provenance in meta)."""
    data = json.loads((ROOT / path).read_text())
    if rows and isinstance(data, dict) and "rows" in data:
        return data["rows"]
    return data


def interleave_running_rows(main: str, running: str) -> list[tuple[bool, dict]]:
    """``(is_default_return, row)``: each method's row of ``main``, followed by its row of ``running`` if any."""
    by_method = {r["method"]: r for r in read_json(running, rows=True)}
    ordered = []
    for r in read_json(main, rows=True):
        ordered.append((True, r))
        if r["method"] in by_method:
            ordered.append((False, by_method[r["method"]]))
    return ordered

def read_parquet(path: str):
    import pandas as pd

    return pd.read_parquet(ROOT / path)


# ---------------------------------------------------------------------------------------------
# renderers


REWARD_LAB_TASKS = {
    "point_open": "point mass, open arena (1M)",
    "point_goal": "point mass behind a cup wall (1M)",
    "deep_sea": "DeepSea 20 (300k)",
    "tomato": "tomato watering (300k), true return / 26",
    "cartpole": "CartPole (250k)",
}
REWARD_LAB_VARIANTS = {
    ("point_open", "ppo"): "PPO",
    ("point_open", "pbrs_distance"): "PBRS, `Φ = −distance`",
    ("point_open", "pbrs_misleading"): "PBRS, `Φ = +distance` (misleading)",
    ("point_goal", "ppo"): "PPO",
    ("point_goal", "pbrs_distance"): "PBRS, `Φ = −distance`",
    ("point_goal", "pbrs_misleading"): "PBRS, `Φ = +distance`",
    ("deep_sea", "ppo"): "PPO",
    ("deep_sea", "counts"): "+ counts",
    ("deep_sea", "rnd"): "+ RND",
    ("deep_sea", "e3b"): "+ E3B (the reference form, episodic return)",
    ("tomato", "ppo"): "PPO on the tamperable visible reward",
    ("tomato", "reward_model"): "preference model (2000 labels)",
    ("tomato", "ensemble"): "+ 5-member ensemble, mean − std",
    ("tomato", "par"): "+ PAR (σ((r − ref)/0.1))",
    ("tomato", "clipped"): "+ clip to [0, 0.5]",
    ("cartpole", "ppo"): "PPO-GAE",
    ("cartpole", "rloo"): "RLOO",
    ("cartpole", "grpo"): "GRPO",
}


def reward_lab(aggregates: str, scores: str) -> str:
    """The reward-lab suite: IQM [CI] and P(> PPO) from aggregates.parquet, solved and AUC from scores.parquet.

    P(> PPO) shows its CI unless the row is the baseline (0.5 by definition) or the CI prints as the
    point. Solved: runs with a normalized final score >= 0.9; a task no run solves shows "–". Bold: in
    each task, the IQM, the solved count and the AUC of the one variant that is strictly best at the
    printed precision (none on a tie).
    """
    agg = read_parquet(aggregates).set_index(["task", "variant"])
    sc = read_parquet(scores)
    rows = []
    for task, task_label in REWARD_LAB_TASKS.items():
        variants = [v for (t, v) in REWARD_LAB_VARIANTS if t == task]
        cells = []
        any_solved = bool((sc[sc.task == task].normalized_score >= 0.9).any())
        for v in variants:
            a = agg.loc[(task, v)]
            s = sc[(sc.task == task) & (sc.variant == v)]
            iqm = num(a.iqm, 2)
            p, plo, phi = num(a.p_improvement, 2), num(a.p_improvement_low, 2), num(a.p_improvement_high, 2)
            p_text = p if v == "ppo" or plo == phi == p else ci(p, plo, phi)
            solved = int((s.normalized_score >= 0.9).sum())
            cells.append({"iqm": iqm, "iqm_ci": (num(a.iqm_low, 2), num(a.iqm_high, 2)), "p": p_text,
                          "solved": f"{solved}/{len(s)}" if any_solved else None,
                          "auc": num(s.normalized_auc.mean(), 2)})
        best_iqm = unique_best([c["iqm"] for c in cells], as_float)
        best_solved = unique_best([c["solved"] for c in cells], lambda t: int(t.split("/")[0]))
        best_auc = unique_best([c["auc"] for c in cells], as_float)
        for i, (v, c) in enumerate(zip(variants, cells)):
            rows.append([task_label if i == 0 else "", REWARD_LAB_VARIANTS[(task, v)],
                         ci(bold(c["iqm"], i == best_iqm), *c["iqm_ci"]), c["p"],
                         bold(c["solved"], i == best_solved) if c["solved"] else DASH, bold(c["auc"], i == best_auc)])
    return table(["task (budget)", "variant", "IQM [95% CI]", "P(> PPO)", "solved", "AUC"], rows)


DEEP_SEA_LABELS = {"ppo": "PPO", "rnd": "PPO + RND", "counts": "PPO + counts", "e3b": "PPO + E3B",
                   "rnd_x_e3b": "PPO + RND × E3B", "counts_x_e3b": "PPO + counts × E3B"}


def deep_sea(main: str, running: str) -> str:
    """DeepSea 20: the default-return file's rows, each followed by the same method's row on the running return.

    A row with no solved seed shows its final return alone. Bold: solved counts of at least 80% of the
    seeds; the best final return and mean return over training, and the fewest median steps to a first solve.
    """
    ordered = interleave_running_rows(main, running)
    cells = []
    for first, r in ordered:
        f = r["final_true_return"]
        sf = r["solved_fraction"]
        final = num(f["mean"], 3, signed_zero=False)
        steps = r["median_env_steps_to_first_solve"]
        cells.append({
            "method": DEEP_SEA_LABELS[r["method"]] if first else "",
            "intrinsic": DASH if r["intrinsic_return"] == "none" else r["intrinsic_return"],
            "solved": f"{r['seeds_solved']}/{r['seeds']}", "solved_ok": r["seeds_solved"] >= 0.8 * r["seeds"],
            "solved_ci": f"[{num(sf['ci_low'], 2)}, {num(sf['ci_high'], 2)}]",
            "final": final, "final_ci": None if r["seeds_solved"] == 0 else
            (num(f["ci_low"], 3, signed_zero=False), num(f["ci_high"], 3, signed_zero=False)),
            "mean": num(r["mean_true_return_over_training"]["mean"], 3, signed_zero=False),
            "steps": DASH if steps is None else f"{steps:,.0f}",
        })
    best_final = unique_best([c["final"] for c in cells], as_float)
    best_mean = unique_best([c["mean"] for c in cells], as_float)
    best_steps = unique_best([None if c["steps"] == DASH else c["steps"] for c in cells], as_float, lowest=True)
    rows = []
    for i, c in enumerate(cells):
        final = bold(c["final"], i == best_final)
        rows.append([c["method"], c["intrinsic"], f"{bold(c['solved'], c['solved_ok'])} {c['solved_ci']}",
                     final if c["final_ci"] is None else ci(final, *c["final_ci"]),
                     bold(c["mean"], i == best_mean), bold(c["steps"], i == best_steps)])
    return table(["method", "intrinsic return", "seeds solved", "final true return",
                  "mean true return over training", "median steps to first solve"], rows)


NOISY_TV_LABELS = {"ppo": "PPO (no bonus)", "icm": "PPO + ICM", "rnd": "PPO + RND", "e3b": "PPO + E3B",
                   "episodic_counts": "PPO + episodic counts"}


def noisy_tv(main: str, running: str) -> str:
    """The noisy TV: mean [95% CI] over seeds; the CI is left out where the mean prints as 0.000 or 1.000.

    Bold: the largest share of steps on the TV over all training, and goal rates (all training) under 50%.
    """
    ordered = interleave_running_rows(main, running)

    def cell(stat: dict, strong: bool = False) -> str:
        mean = num(stat["mean"], 3)
        if mean in ("0.000", "1.000"):
            return bold(mean, strong)
        return ci(bold(mean, strong), num(stat["ci_low"], 3), num(stat["ci_high"], 3))

    tv = [num(r["tv_share"]["mean"], 3) for _, r in ordered]
    most_tv = unique_best(tv, as_float)
    rows = []
    for i, (first, r) in enumerate(ordered):
        rows.append([NOISY_TV_LABELS[r["method"]] if first else "",
                     DASH if r["intrinsic_return"] == "none" else r["intrinsic_return"],
                     cell(r["tv_share"], i == most_tv), cell(r["tv_share_last_quarter"]),
                     cell(r["goal_rate"], r["goal_rate"]["mean"] < 0.5), cell(r["goal_rate_last_quarter"])])
    return table(["method", "intrinsic return", "steps on the TV (all training)", "… last quarter",
                  "goal rate (all training)", "… last quarter"], rows)


def preference_rl(cartpole: str, tomato: str) -> str:
    """Preference RL on CartPole and tomato watering.

    Bold: per env, the preference-model row with the highest final true return (its label, return and
    fraction of true-reward PPO).
    """
    rows = []
    for path, env_label, digits, unsafe in ((cartpole, "CartPole-v1, 500k steps", 1, False),
                                            (tomato, "lab/tomato_watering, 300k steps", 2, True)):
        data = read_json(path, rows=True)
        models = [r for r in data if r["method"].startswith("preference model")]
        best = max(models, key=lambda r: r["final_true_return"]["mean"]) if models else None
        for i, r in enumerate(data):
            m, f = r["method"], r["final_true_return"]
            strong = r is best
            if m == "true reward":
                label = "PPO on the true reward"
            elif m == "visible reward":
                label = "PPO on the visible (tamperable) reward"
            else:
                labels = bold(f"{r['labels']:.0f} labels", strong)
                label = (f"PPO on the preference model, {labels}" if not unsafe else f"preference model, {labels}")
            acc = r.get("held_out_preference_accuracy")
            rows.append([env_label if i == 0 else "", label,
                         ci(bold(num(f["mean"], digits), strong), num(f["ci_low"], digits), num(f["ci_high"], digits)),
                         bold(f"{100 * r['fraction_of_true_reward_ppo']:.0f}%", strong),
                         DASH if acc is None else num(acc["mean"], 3),
                         num(r["unsafe_step_fraction"]["mean"], 3) if unsafe else DASH])
    return table(["env, budget", "method", "final true return", "vs true-reward PPO",
                  "held-out preference accuracy", "unsafe steps"], rows)


SCALING_RUNS = (1, 16, 256, 1024, 4096)


def scaling_runs(path: str) -> str:
    """The runs sweep of benchmarks.scaling (rows for 1, 16, 256, 1024, 4096 runs). Bold: the largest run count and its memory."""
    rows = [r for r in read_json(path)["rows"] if r["sweep"] == "runs" and r["runs"] in SCALING_RUNS]
    largest = max(r["runs"] for r in rows)
    out = []
    for r in rows:
        top = r["runs"] == largest
        out.append([bold(str(r["runs"]), top), f"{r['steps_per_second']:,.0f}", f"{r['raw_steps_per_second']:,.0f}",
                    f"{r['compile_seconds']:.1f}", bold(f"{r['peak_rss_gb']:.2f} GB", top),
                    f"{r['metrics_bytes_per_update'] / 1000:.1f} kB"])
    return table(["runs in one program", "jrew PPO env steps/s", "raw env steps/s", "compile (s)",
                  "peak memory (RSS)", "metrics per update"], out)


def scaling_devices(path: str) -> str:
    """The devices sweep of benchmarks.scaling. Bold: the highest rate."""
    rows = [r for r in read_json(path)["rows"] if r["sweep"] == "devices"]
    runs = {r["runs"] for r in rows}
    assert len(runs) == 1, runs
    rates = [f"{r['steps_per_second']:,.0f}" for r in rows]
    best = unique_best(rates, as_float)
    header = ["devices"] + [str(r["devices"]) for r in rows]
    return table(header, [[f"env steps/s ({runs.pop()} runs)"] + [bold(t, i == best) for i, t in enumerate(rates)]])


THROUGHPUT_RUNS = {"raw env steps (random actions)": "raw env stepping (random actions)"}


def throughput(path: str) -> str:
    """benchmarks.throughput's rows. Brax's compile counts two compiles. Bold: the highest jrew ratio."""
    rows = read_json(path)["rows"]
    jrew_ratios = [f"{r['ratio_to_brax_ppo']:.2f}" if r["run"].startswith("jrew") else None for r in rows]
    best = unique_best(jrew_ratios, as_float)
    out = []
    for i, r in enumerate(rows):
        compile_s = r["compile_seconds"]
        compile_text = DASH if compile_s is None else f"{compile_s:.1f}" + (
            " (two compiles)" if r["run"].startswith("Brax") else "")
        out.append([THROUGHPUT_RUNS.get(r["run"], r["run"]), f"{r['steps_per_second']:,.0f}", compile_text,
                    bold(f"{r['ratio_to_brax_ppo']:.2f}", i == best)])
    return table(["run", "env steps/s", "compile (s)", "ratio to Brax PPO"], out)


BREAKDOWN_PARTS = {
    "rollout": "rollout (policy and env)",
    "env steps alone": "the env steps alone (random actions)",
    "critic pass": "the critic's pass over the rollout",
    "epochs": "the epochs of minibatch steps",
    "network math alone": "the same steps with the network math alone (same networks, minibatches and Adam; "
                          "the loss a sum of outputs)",
    "the rest": "the rest (advantages, statistics, metrics)",
}


def throughput_breakdown(path: str) -> str:
    """``--breakdown``: each part of one update in ms and as a share of the whole update."""
    parts = read_json(path)["meta"]["update_breakdown_ms"]
    update = parts["update"]
    lines = [f"Where one jrew update's {update:.0f} ms go (`--breakdown`, each part timed as its own compiled call):", ""]
    rows = [[label, f"{parts[key]:.1f}", f"{100 * parts[key] / update:.0f}%"] for key, label in BREAKDOWN_PARTS.items()]
    return "\n".join(lines) + "\n" + table(["part", "ms", "share"], rows)


def reward_overhead(path: str) -> str:
    """benchmarks.reward_overhead. Bold: pipelines that at least double the time per step."""
    labels = {"chain(normalize_returns, pbrs, par, clip)": "`chain(normalize_returns, pbrs, par, clip)`",
              "intrinsic(rnd())": "`intrinsic(rnd())`: 2 × (256, 256) MLPs, one Adam step per rollout, second critic",
              "intrinsic(e3b())": "`intrinsic(e3b())`: (256,) encoder + inverse head, per-env 32×32 "
                                  "Sherman–Morrison scan"}
    out = []
    for r in read_json(path)["rows"]:
        ratio = r["time_per_step_vs_identity"]
        out.append([labels.get(r["run"], r["run"]), f"{r['steps_per_second'] / 1000:.0f}k",
                    bold(f"{ratio:.2f}", ratio >= 2), f"{r['compile_seconds']:.1f}"])
    return table(["pipeline", "env steps/s", "time per step vs identity", "compile (s)"], out)


def _seeds(values: list[float], digits: int = 0) -> str:
    return ", ".join(num(v, digits) for v in values)


def brax_reproduction(pendulum: str, pendulum_orthogonal: str, pendulum_8: str, ant: str, ant_preset: str) -> str:
    """The Brax rows of the reproduction: jrew and Brax's trainer, mean [95% CI] over seeds, wall time per seed.

    Bold: the higher of jrew's and Brax's mean where their 95% CIs do not overlap. Wall time per
    seed: jrew's whole program (its seeds together) divided by the seeds; Brax's mean per seed.
    """
    def ret(mean, low, high, seeds, strong):
        text = ci(bold(num(mean, 1), strong), num(low, 1), num(high, 1))
        return text + (", every seed" if len(set(seeds)) == 1 else f" (seeds {_seeds(seeds)})")

    def pair(row):
        j, b = row["jrew_mean"], row["reference"]
        apart = row["jrew_ci_high"] < row["reference_ci_low"] or row["reference_ci_high"] < row["jrew_ci_low"]
        return (ret(j, row["jrew_ci_low"], row["jrew_ci_high"], row["jrew_seeds"], apart and j > b),
                ret(b, row["reference_ci_low"], row["reference_ci_high"], row["reference_seeds"], apart and b > j))

    def per_seed(row, meta):
        return row["jrew_wall_seconds"] / meta["seeds"]

    o, p, e, a, ap = (read_json(f) for f in (pendulum_orthogonal, pendulum, pendulum_8, ant, ant_preset))
    o_row, p_row, e_row, a_row, ap_row = (d["rows"][0] for d in (o, p, e, a, ap))
    rows = []
    j, b = pair(o_row)
    rows.append(["inverted_pendulum (2M), jrew's orthogonal init", j, b,
                 (f"jrew {per_seed(o_row, o['meta']):.0f} s (4 seeds in one program); Brax "
                 f"{o_row['brax_seconds_per_seed']:.0f} s, from another session (the orthogonal file copies the "
                 f"preset file's Brax row)")])
    j, b = pair(p_row)
    rows.append(["inverted_pendulum (2M), Brax's LeCun-uniform init (the `brax` preset)", j, "the same",
                 f"jrew {per_seed(p_row, p['meta']):.0f} s, Brax {p_row['brax_seconds_per_seed']:.0f} s (one run)"])
    j, b = pair(e_row)
    rows.append([f"the same at **{e['meta']['seeds']} seeds** (`--seeds {e['meta']['seeds']}`)", j, b,
                 "a loaded machine: not a speed comparison"])
    j, b = pair(a_row)
    rows.append([("ant (1M = 48 updates, **256 envs** instead of the notebook's 4096; `--ant-envs 256`), jrew's "
                 "orthogonal init"), j, b, (f"jrew {per_seed(a_row, a['meta']):.0f} s, Brax "
                 f"{a_row['brax_seconds_per_seed']:.0f} s (a shared machine: not a speed comparison)")])
    j, _ = pair(ap_row)
    rows.append(["the same with Brax's LeCun-uniform init (**the `brax` preset now**)", j, "the same run",
                 f"jrew {per_seed(ap_row, ap['meta']):.0f} s (idle machine)"])
    return table(["env (budget)", "jrew", "Brax's PPO trainer",
                  "wall time per seed (CPU, with compile and evaluation)"], rows)


LAB_ENVS = {
    "lab/point_goal": ("+1 at the goal (sparse)", "reach the goal behind a cup-shaped wall",
                       "sparse exploration, shaping"),
    "lab/point_goal_dense": ("`−‖p − goal‖` each step", "reach the goal (the proxy parks in the cup, 0.5 away)",
                             "deceptive dense proxies"),
    "lab/point_hazard": ("progress (weights over progress, energy, hazard)",
                         "reach the goal; `progress`, `energy`, `hazard` in metrics", "multi-objective, Lagrangian, Pareto"),
    "lab/deep_sea": ("+1 at the far corner, −0.01/size per right move", "the same", "hard exploration (`size` kwarg)"),
    "lab/boat_race": ("+1 per checkpoint entry, any order, again and again", "finish the lap (1 → 4 in order, then F)",
                      "reward hacking by farming"),
    "lab/box_push": ("+1 at the goal, −0.02 per step", "the same, −0.5 if the box is cornered for good",
                     "irreversible side effects"),
    "lab/tomato_watering": ("0.02 × tomatoes that *look* watered", "0.02 × tomatoes that are watered", "sensor tampering"),
    "lab/noisy_tv": ("+1 at the goal", "the same; a TV region shows fresh noise in the observation",
                     "curiosity distractors"),
}


def lab_envs(path: str) -> str:
    """The reward lab's envs with benchmarks.env_throughput's raw rate, and its footnote (CartPole's rate, the 1M target). No bold."""
    data = read_json(path)
    rate = {r["env"]: r for r in data["rows"]}
    rows = [[f"`{env}`", *labels, f"{rate[env]['steps_per_second'] / 1e6:.1f}M"] for env, labels in LAB_ENVS.items()]
    targets = [r for r in data["rows"] if r["target_steps_per_second"] is not None]
    (target,) = {r["target_steps_per_second"] for r in targets}
    missed = [r["env"] for r in targets if not r["meets_target"]]
    verdict = "is met by each" if not missed else "is missed by " + ", ".join(f"`{e}`" for e in missed)
    note = (f"\\* raw steps/s with {data['meta']['num_envs']} envs and random actions, auto-reset included, on 2 CPU cores\n"
            f"(`python -m benchmarks.env_throughput`, [results](benchmarks/results/envs.json)); gymnax CartPole-v1 ran\n"
            f"at {rate['gymnax/CartPole-v1']['steps_per_second'] / 1e6:.1f}M in the same run. The target of "
            f"≥ {target / 1e6:.0f}M for the grid and point envs {verdict}.")
    return table(["env", "visible reward", "true objective", "for", "steps/s*"], rows) + "\n\n" + note


def _boat_race(path: str, true_label: str, oracle_label: str, unsafe_label: str, digits: int, maximum_note: str) -> str:
    """One row per variant of boat_race_hacking's summary: first episodes → final, means over seeds.

    Visible returns to 1 decimal, true returns to ``digits``.
    """
    def final(r, key, strong, note):
        d = 1 if key == "visible_return" else digits
        return f"{num(r['initial_' + key], d)} → {bold(num(r['final_' + key], d), strong)}{note}"

    rows = []
    for r in read_json(path, rows=True):
        visible = r["variant"] == "visible"
        every = r["final_visible_return_min"] == r["final_visible_return"]
        v_note = f" (every seed{maximum_note})" if every else ""
        t_note = (" (every seed)" if r["final_true_return_max"] == r["final_true_return"]
                  else f" (best seed {num(r['final_true_return_max'], digits)})")
        rows.append(["visible reward" if visible else oracle_label,
                     final(r, "visible_return", visible, v_note if visible else ""),
                     final(r, "true_return", True, t_note), percent(r["final_unsafe_step_fraction"])])
    return table(["trained on", "visible return (first episodes → final)", true_label, unsafe_label], rows)


def boat_race(path: str) -> str:
    """lab/boat_race: PPO on the visible reward and on the true reward (true returns to 2 decimals).

    "every seed" where every seed ends at the mean (the visible return's minimum, the true return's
    maximum); else the best seed's true return. Bold: the visible row's final returns and every final true return.
    """
    return _boat_race(path, "true return (→ final)", "true reward (oracle)", "unsafe steps (final)", 2, "")


def aisg_boat_race(path: str) -> str:
    """aisg/boat_race, as ``boat_race`` with true returns to 1 decimal (50 is the visible return's maximum)."""
    return _boat_race(path, "hidden performance (→ final)", "hidden performance (oracle)", "non-clockwise steps", 1,
                      ": the maximum")


RETURN_DECOMPOSITION_LABELS = {"delayed reward": "PPO on the delayed reward",
                               "delayed + return decomposition": "PPO on the decomposed delayed reward",
                               "true reward (undelayed)": "PPO on the undelayed reward (reference)"}


def return_decomposition(path: str) -> str:
    """Mean [95% CI] over seeds. Bold: the highest final true return among the rows trained on the delayed reward."""
    data = read_json(path, rows=True)
    finals = [None if r["method"] == "true reward (undelayed)" else num(r["final_true_return"]["mean"], 1) for r in data]
    best = unique_best(finals, as_float)
    rows = []
    for i, r in enumerate(data):
        f = r["final_true_return"]
        rows.append([RETURN_DECOMPOSITION_LABELS[r["method"]], ci(bold(num(f["mean"], 1), i == best),
                     num(f["ci_low"], 1), num(f["ci_high"], 1)), num(r["mean_true_return_over_training"]["mean"], 1)])
    return table(["method", "final true return", "mean over training"], rows)


def gail(*paths: str) -> str:
    """One row per env file. Bold: GAIL's final return and normalized score where the normalized score reaches 0.8."""
    rows = []
    for path in paths:
        (r,) = read_json(path, rows=True)
        strong = r["normalized_score"]["mean"] >= 0.8
        f, n = r["final_true_return"], r["normalized_score"]
        rows.append([r["env"].split("/")[-1], f"{r['expert_episodes']} ({r['expert_steps']})",
                     f"{r['env_steps'] / 1e6:.1f}M",
                     f"{num(r['expert_true_return'], 1)} / {num(r['random_true_return'], 1)}",
                     bold(ci(num(f["mean"], 1), num(f["ci_low"], 1), num(f["ci_high"], 1)), strong),
                     bold(ci(num(n["mean"], 2), num(n["ci_low"], 2), num(n["ci_high"], 2)), strong),
                     num(r["final_discriminator_accuracy"]["mean"], 2), f"{r['seconds']:.0f} s"])
    return table(["env", "expert episodes (steps)", "env steps", "expert / random true return", "GAIL final true return",
                  "normalized score", "discriminator accuracy (end)", "time"], rows)


IMITATION_LABELS = {"jrew": " (`preference_model` + `normalize_returns`, PPO defaults, all seeds in one program)",
                    "imitation": " (its tutorial's SB3 PPO settings, torch CPU, one process per seed)"}


def imitation_side_by_side(path: str) -> str:
    """jrew and imitation on CartPole; the seeds listed where they differ. Bold: the higher mean return, the shorter time per seed."""
    data = read_json(path)
    seeds = {"jrew": data["jrew"]["final_true_return"], "imitation": [r["final_true_return"] for r in data["imitation"]]}
    means = [num(r["final_true_return_mean"], 1) for r in data["rows"]]
    per_seed = [f"{r['wall_seconds_per_seed']:.1f}" for r in data["rows"]]
    best, fastest = unique_best(means, as_float), unique_best(per_seed, as_float, lowest=True)
    rows = []
    for i, r in enumerate(data["rows"]):
        name = r["library"].split(" (")[0]
        key = "jrew" if name == "jrew" else "imitation"
        listed = "" if len(set(seeds[key])) == 1 else f" ({_seeds(seeds[key], 1)})"
        wall = f"{r['wall_seconds_total']:.0f} s" + (f" (compile {r['compile_seconds']:.0f} s)" if "compile_seconds" in r else "")
        rows.append([name + IMITATION_LABELS[key], str(r["seeds"]),
                     ci(bold(means[i], i == best), num(r["ci_low"], 1), num(r["ci_high"], 1)) + listed,
                     wall, bold(f"{per_seed[i]} s", i == fastest)])
    return table(["library", "seeds", "final true return", "wall time", "per seed"], rows)


def reward_overoptimization(*paths: str) -> str:
    """One group of rows per label budget: mean [95% CI] of the true return, means of the rest. No bold."""
    rows = []
    for path in paths:
        for i, r in enumerate(read_json(path, rows=True)):
            f = r["final_true_return"]
            rows.append([f"{r['labels']} labels" if i == 0 else "", r["method"],
                         ci(num(f["mean"], 2), num(f["ci_low"], 2), num(f["ci_high"], 2)),
                         num(r["final_optimized_return"]["mean"], 1), num(r["final_tampering_fraction"]["mean"], 2),
                         num(r["final_kl_from_init"]["mean"], 2)])
    return table(["proxy trained on", "variant", "true return, last 10%", "optimized return, last 10%", "tampering steps",
                  "KL(π ‖ π₀)"], rows)


ESTIMATOR_TASKS = {"gymnax/CartPole-v1": "CartPole-v1 (max 500)", "gymnax/Acrobot-v1": "Acrobot-v1 (max ≈ −60)"}


def estimators(path: str) -> str:
    """benchmarks.estimators: final true return mean [95% CI] · training steps/s over all seeds. No bold."""
    data = read_json(path)["rows"]
    learners = list(dict.fromkeys(r["learner"] for r in data))
    cell = {(r["task"], r["learner"]): r for r in data}
    rows = []
    for task, label in ESTIMATOR_TASKS.items():
        rows.append([label] + [ci(num(c["final_true_return_mean"], 1), num(c["ci95_low"], 1), num(c["ci95_high"], 1))
                               + f" · {c['steps_per_second'] / 1000:.0f}k steps/s"
                               for c in (cell[(task, learner)] for learner in learners)])
    return table(["task"] + learners, rows)


ASTERIX_VARIANTS = {"jrew, published config": "ppo.yaml, jrew's orthogonal init",
                    "jrew, their init": "+ the baselines' init",
                    "jrew, their init and fixed partition": "+ the baselines' init and fixed partition"}


def _difference(stat: dict) -> str:
    return ci(signed(stat["diff"], 1), signed(stat["diff_ci_low"], 1), signed(stat["diff_ci_high"], 1))


def asterix_vs_blines(path: str) -> str:
    """benchmarks.compare_curves on Asterix: each jrew variant against the baselines' trainer. No bold.

    Indented two spaces: the table sits in a list item.
    """
    meta = read_json(path)["meta"]
    sources = meta["sources"]
    (seeds,) = {sources[v]["seeds"] for v in ASTERIX_VARIANTS}
    rows = [[label, num(sources[v]["final_return"]["mean"], 1), _difference(sources[v]["final_return"]),
             f"{sources[v]['final_return']['welch_p']:.2f}", _difference(sources[v]["late_return"])]
            for v, label in ASTERIX_VARIANTS.items()]
    text = table([f"jrew, {seeds} seeds", "final return", "minus the trainer", "p",
                  f"mean of the last {100 * meta['late_fraction']:.0f}% of training, minus the trainer"], rows)
    return "\n".join("  " + line for line in text.splitlines())


def _budget(steps: int) -> str:
    return f"{steps / 1e6:.0f}M" if steps >= 1e6 - 1e3 else f"{steps / 1e3:.0f}k"


def reproduction(classic: str, minatar: str, asterix: str, asterix_init: str, asterix_partition: str, freeway: str,
                 space_invaders: str, checkpoints: str, blines_pendulum: str, blines_asterix: str) -> str:
    """The gymnax rows of benchmarks.reproduce beside the published figure, its checkpoint and the baselines' trainer.

    Mean [95% CI] over seeds; a row with fewer than 8 seeds lists them. The checkpoint's column gives
    its training log's last figure too where that or today's score is more than 10% off the published
    figure. The verdicts are words written here; their numbers come from the files. Bold: jrew's mean
    where it is at least the published checkpoint's score today; a checkpoint today more than 50% off its own log.
    """
    published = {r["env"]: r for r in read_json(checkpoints)["rows"]}
    trainer_pendulum = read_json(blines_pendulum)
    vs = read_json(blines_asterix)
    blines = vs["meta"]["sources"]["gymnax-blines trainer"]
    blines_seeds = [r["final_return"] for r in vs["rows"] if r["source"] == "gymnax-blines trainer"]

    def versus(variant):
        return vs["meta"]["sources"][variant]["final_return"]

    def share(mean):
        return f"{100 * mean / blines['final_return']['mean']:.0f}%"

    def trainer(stat, seeds, listed=()):
        text = f"{ci(num(stat['mean'], 1), num(stat['ci_low'], 1), num(stat['ci_high'], 1))}, {seeds} seeds"
        return text + (f" ({_seeds(listed, 1)})" if listed else "")

    p_meta = trainer_pendulum["meta"]
    spec = [  # file, env, config, the trainer's cell, verdict
        (classic, "CartPole-v1", "gymnax-blines ppo.yaml", DASH, lambda r: "yes, but for one seed"),
        (classic, "Acrobot-v1", "gymnax-blines ppo.yaml", DASH, lambda r: "yes"),
        (classic, "Pendulum-v1", "gymnax-blines ppo.yaml as is", trainer(p_meta, len(trainer_pendulum["rows"])),
         lambda r: "yes, against the baselines' trainer"),
        (classic, "Pendulum-v1", "the same + `normalize_values` (the preset)", None,
         lambda r: "better than the trainer and its checkpoint"),
        (minatar, "Breakout-MinAtar", "gymnax-blines ppo.yaml", DASH, lambda r: "yes"),
        (asterix, "Asterix-MinAtar", "gymnax-blines ppo.yaml",
         trainer(blines["final_return"], blines["seeds"], blines_seeds),
         lambda r: (f"{share(r['jrew_mean'])} of the trainer: {_difference(versus('jrew, published config'))}, "
                    f"Welch p = {versus('jrew, published config')['welch_p']:.2f}")),
        (asterix_init, "Asterix-MinAtar",
         "the same + the baselines' init (`--set kernel_init=lecun_normal bias_init_scale=0.05`)", None,
         lambda r: (f"{share(r['jrew_mean'])} of the trainer: {_difference(versus('jrew, their init'))}, "
                    f"p = {versus('jrew, their init')['welch_p']:.2f}, inside its seeds' spread")),
        (asterix_partition, "Asterix-MinAtar", ("the same + their init + their fixed minibatch partition "
                                                "(`python -m benchmarks.blines_partition`)"), None,
         lambda r: f"{share(r['jrew_mean'])}: their partition is not the cause"),
        (freeway, "Freeway-MinAtar", "gymnax-blines ppo.yaml", DASH,
         lambda r: f"yes ({100 * r['jrew_mean'] / r['reference']:.0f}%)"),
        (space_invaders, "SpaceInvaders-MinAtar", "gymnax-blines ppo.yaml", DASH,
         lambda r: f"not comparable: the env changed (below); jrew's {r['jrew_mean']:.0f} is on MinAtar's rules"),
    ]
    files, taken = {}, {}
    rows = []
    for path, env, config, trainer_cell, verdict in spec:  # a file's rows of one env, in order
        data = files.setdefault(path, read_json(path))
        i = taken[(path, env)] = taken.get((path, env), -1) + 1
        r = [row for row in data["rows"] if row["env"] == "gymnax/" + env][i]
        seeds, n = r["jrew_seeds"], data["meta"]["seeds"]
        c = published["gymnax/" + env]
        first = trainer_cell is not None
        jrew = ci(bold(num(r["jrew_mean"], 1), r["jrew_mean"] >= c["today"]), num(r["jrew_ci_low"], 1),
                  num(r["jrew_ci_high"], 1))
        at_top = [s for s in seeds if s == max(seeds)]
        if n < 8:
            jrew += f" (seeds {_seeds(seeds, 1)})"
        elif len(at_top) == len(seeds) - 1:
            jrew += f": {len(at_top)} of {len(seeds)} seeds at {max(seeds):.0f}, one at {min(seeds):.0f}"
        checkpoint = ""
        if first:
            off = max(abs(c["today"] - c["published"]), abs(c["log_last"] - c["published"])) > 0.1 * abs(c["published"])
            checkpoint = (bold(num(c["today"], 1), abs(c["today"] - c["log_last"]) > 0.5 * abs(c["log_last"]))
                          + (f" (its log: {num(c['log_last'], 1)})" if off else ""))
        budget = _budget(r["env_steps"]) + ("" if n == 8 else f", {n} seeds")
        rows.append([f"{env} ({budget})", config, jrew, num(r["reference"], 0), checkpoint,
                     trainer_cell if first else "", verdict(r)])
    return table(["env (budget)", "config", "jrew", "published", "its checkpoint today",
                  "the baselines' trainer today", "verdict"], rows)


# ---------------------------------------------------------------------------------------------
# the registry


@dataclass(frozen=True)
class Block:
    render: Callable[..., str]
    sources: tuple[str, ...]

    def text(self, where: str = "README.md") -> str:
        """The block as the file ``where`` (relative to the repository root) holds it."""
        return relink(self.render(*self.sources), where)


def quickstart(path: str) -> str:
    """What ``python experiments/quickstart.py`` prints (its ``--save-result`` file), as a code block."""
    (r,) = read_json(path, rows=True)
    return "\n".join([
        "```",
        f"PPO on {r['env']}: {r['seeds']} seeds x {r['env_steps_per_seed']:,} env steps, one program",
        f"final true return over {r['seeds']} seeds (max 500):",
        f"  mean {r['mean']:.1f}   IQM {r['iqm']:.1f}   min {r['min']:.1f}   max {r['max']:.1f}",
        (f"compile {r['compile_seconds']:.1f}s, train {r['train_seconds']:.1f}s, "
         f"{r['steps_per_second']:,.0f} env steps/s (all seeds)"),
        "```",
    ])


def pbrs_deepsea(path: str) -> str:
    """``experiments/pbrs_deepsea.py``: PBRS against no shaping. Bold: the higher final true return."""
    data = read_json(path, rows=True)
    seeds = read_json(path)["meta"]["settings"]["seeds"]  # per variant
    best = unique_best([num(r["final_true_return"], 3) for r in data], as_float)
    rows = [[r["variant"], bold(num(r["final_true_return"], 3), i == best), f"{r['seeds_solved']} / {seeds}",
             num(r["mean_true_return_over_training"], 3),
             "never" if r["env_steps_to_mean_threshold"] is None else f"{r['env_steps_to_mean_threshold']:,}"]
            for i, r in enumerate(data)]
    return table(["variant", "final true return", "seeds solved", "mean true return over training",
                  "steps until mean ≥ 0.9"], rows)


SUMMARY_SOURCES = ("experiments/results/pbrs_deepsea10.json", "experiments/results/deep_exploration_deep_sea20.json",
                   "experiments/results/preference_rl_tomato_watering.json",
                   "experiments/results/boat_race_summary.json", "experiments/results/gail_cartpole.json",
                   "experiments/results/gail_pendulum.json", "benchmarks/results/throughput.json",
                   "benchmarks/results/scaling.json", "benchmarks/results/imitation_side_by_side.json",
                   "experiments/results/seq_lab_addition.json",
                   "experiments/results/completion_overoptimization_steps.json")


def results_summary(pbrs: str, deep_sea: str, preferences: str, boat: str, gail_cartpole: str, gail_pendulum: str,
                    speed: str, scaling: str, imitation: str, sequence: str, overoptimization: str) -> str:
    """The front page's summary: one headline figure per result, each linked to its page. No bold.

    Deep exploration names the method that solves the most seeds (the first on a tie); preference
    RL the preference-model row with the highest final true return; over-optimization the plain
    proxy with the most labels, best-of-n's gold at its best n and at the largest n.
    """
    shaped = {r["variant"]: r for r in read_json(pbrs, rows=True)}
    pbrs_seeds = read_json(pbrs)["meta"]["settings"]["seeds"]
    sea = read_json(deep_sea, rows=True)
    best = max(sea, key=lambda r: r["seeds_solved"])
    ppo = next(r for r in sea if r["method"] == "ppo")
    prefs = read_json(preferences, rows=True)
    model = max((r for r in prefs if r["method"].startswith("preference model")),
                key=lambda r: r["final_true_return"]["mean"])
    visible = next(r for r in prefs if r["method"] == "visible reward")
    race = {r["variant"]: r for r in read_json(boat, rows=True)}
    (gc,), (gp,) = read_json(gail_cartpole, rows=True), read_json(gail_pendulum, rows=True)
    (jrew_speed,) = [r for r in read_json(speed)["rows"] if r["run"] == "jrew PPO (1 seed)"]
    largest = max((r for r in read_json(scaling)["rows"] if r["sweep"] == "runs"), key=lambda r: r["runs"])
    per_seed = {r["library"].split(" (")[0]: r["wall_seconds_per_seed"] for r in read_json(imitation)["rows"]}
    grpo = next(r for r in read_json(sequence, rows=True) if r["method"] == "grpo")
    sequence_seeds = read_json(sequence)["meta"]["settings"]["seeds"]
    ns = [int(n) for n in read_json(overoptimization)["meta"]["settings"]["bon_n"]]
    bon = max((r for r in read_json(overoptimization, rows=True) if r["kind"] == "bon" and r["model"] == "proxy"),
              key=lambda r: r["labels"])
    gold = {n: bon[f"gold_n{n}"]["mean"] for n in ns}
    peak_n = max(ns, key=gold.get)
    rows = [
        ["[Shaping](docs/rewards.md#shaping-that-helps-measured): PBRS on DeepSea 10",
         (f"{shaped['PBRS (column potential)']['seeds_solved']}/{pbrs_seeds} seeds solved with PBRS, "
          f"{shaped['no shaping']['seeds_solved']}/{pbrs_seeds} without"),
         "[`pbrs_deepsea10.json`](experiments/results/pbrs_deepsea10.json)"],
        ["[Deep exploration](docs/exploration.md#deep-exploration-measured): DeepSea 20",
         (f"{DEEP_SEA_LABELS[best['method']]} solves {best['seeds_solved']}/{best['seeds']} seeds, "
          f"PPO {ppo['seeds_solved']}/{ppo['seeds']}"),
         "[`deep_exploration_deep_sea20.json`](experiments/results/deep_exploration_deep_sea20.json)"],
        ["[Preference RL](docs/reward-models.md#preference-rl-measured): tomato watering",
         (f"{model['labels']:.0f} labels reach {100 * model['fraction_of_true_reward_ppo']:.0f}% of true-reward "
          f"PPO; PPO on the tamperable visible reward {100 * visible['fraction_of_true_reward_ppo']:.0f}%, with "
          f"{percent(visible['unsafe_step_fraction']['mean'])} unsafe steps"),
         "[`preference_rl_tomato_watering.json`](experiments/results/preference_rl_tomato_watering.json)"],
        ["[Reward hacking](docs/reward-lab.md#the-boat-race-doing-its-job): the boat race",
         (f"PPO on the visible reward: visible return {num(race['visible']['final_visible_return'], 1)}, true "
          f"return {num(race['visible']['final_true_return'], 2)}; trained on the true reward: true return "
          f"{num(race['true (oracle)']['final_true_return'], 2)}"),
         "[`boat_race_summary.json`](experiments/results/boat_race_summary.json)"],
        ["[GAIL](docs/reward-models.md#gail-measured): imitation from expert episodes",
         (f"normalized score {num(gc['normalized_score']['mean'], 2)} on CartPole, "
          f"{num(gp['normalized_score']['mean'], 2)} on Pendulum"),
         ("[`gail_cartpole.json`](experiments/results/gail_cartpole.json), "
          "[`gail_pendulum.json`](experiments/results/gail_pendulum.json)")],
        ["[Sequence lab](docs/sequence-lab.md#addition-2-digits): GRPO from an SFT reference",
         (f"2-digit addition's exact-match accuracy {num(grpo['initial_accuracy']['mean'], 2)} → "
          f"{num(grpo['final_accuracy']['mean'], 2)} over {sequence_seeds} seeds, a transformer policy"),
         "[`seq_lab_addition.json`](experiments/results/seq_lab_addition.json)"],
        ["[Over-optimization](docs/completion-overoptimization.md): a proxy reward model of 2-digit addition",
         (f"best-of-n by a {bon['labels']}-label proxy: gold (exact match) {num(gold[1], 2)} at n = 1, "
          f"{num(gold[peak_n], 2)} at n = {peak_n}, {num(gold[ns[-1]], 2)} at n = {ns[-1]}"),
         "[`completion_overoptimization_steps.json`](experiments/results/completion_overoptimization_steps.json)"],
        ["[Throughput](benchmarks/README.md#throughput-against-braxs-ppo-trainer): Brax inverted_pendulum, CPU",
         f"jrew PPO at {jrew_speed['ratio_to_brax_ppo']:.2f}× the env steps/s of Brax's own PPO trainer",
         "[`throughput.json`](benchmarks/results/throughput.json)"],
        ["[Scale](benchmarks/README.md#thousands-of-runs-in-one-program): PPO on CartPole",
         f"{largest['runs']:,} runs in one program, {largest['peak_rss_gb']:.2f} GB peak memory",
         "[`scaling.json`](benchmarks/results/scaling.json)"],
        ["[Against imitation](benchmarks/README.md#against-imitation): preference RL on CartPole",
         f"{per_seed['jrew']:.1f} s per seed with jrew, {per_seed['imitation 1.0.1']:.1f} s with imitation 1.0.1",
         "[`imitation_side_by_side.json`](benchmarks/results/imitation_side_by_side.json)"],
    ]
    return table(["result", "headline figure", "file"], rows)

SEQ_LAB_LABELS = {"grpo": "GRPO", "dr_grpo": "Dr. GRPO", "dapo_token_mean": "GRPO, DAPO token mean",
                  "rloo": "RLOO", "tempo": "TEMPO (prefix-tree credit)", "tp_grpo": "TP-GRPO (turning points)",
                  "oprl": "OPRL (implicit step rewards)", "ppo": "PPO (token critic, GAE)"}


def seq_lab_label(method: str) -> str:
    """``grpo`` -> GRPO; ``grpo kl=0.05`` -> GRPO, KL coef 0.05."""
    name, _, coef = method.partition(" kl=")
    return SEQ_LAB_LABELS.get(name, name) + (f", KL coef {coef}" if coef else "")


def seq_lab(path: str) -> str:
    """``experiments/seq_lab.py`` on one task: exact-match accuracy from the reference, mean [95%
    CI] over seeds. Bold: the highest final accuracy (none on a tie at the printed precision). On
    the length proxy, the visible return and the share of over-long (unsafe) answers too."""
    data = read_json(path, rows=True)
    settings = read_json(path)["meta"]["settings"]
    seeds, threshold = settings["seeds"], settings["threshold"]
    final = [num(r["final_accuracy"]["mean"], 3) for r in data]
    best = unique_best(final, as_float)
    proxy = settings["task"] == "addition_length_proxy"
    rows = []
    for i, r in enumerate(data):
        f, g, to = r["final_accuracy"], r["gain"], r["updates_to_threshold"]
        row = [seq_lab_label(r["method"]), num(r["initial_accuracy"]["mean"], 3),
               ci(bold(final[i], i == best), num(f["ci_low"], 3), num(f["ci_high"], 3)),
               ci(signed(g["mean"], 3), num(g["ci_low"], 3), num(g["ci_high"], 3)), num(r["final_kl"]["mean"], 3)]
        if proxy:
            v, u = r["final_visible_return"], r["final_unsafe_share"]
            row += [ci(num(v["mean"], 2), num(v["ci_low"], 2), num(v["ci_high"], 2)), num(u["mean"], 2)]
        else:
            row += [f"{r['seeds_reaching_threshold']}/{seeds}",
                    "never" if to is None else ci(num(to["mean"], 0), num(to["ci_low"], 0), num(to["ci_high"], 0))]
        rows.append(row)
    header = ["method", "reference accuracy", "final accuracy (true)", "gain", "KL to reference (per token)"]
    header += (["final visible return", "over-long answers"] if proxy
               else [f"seeds reaching {threshold}", "updates to reach it"])
    return table(header, rows)


def mean_ci_cell(stat: dict, digits: int, strong: bool = False) -> str:
    """A ``compare.mean_ci`` dict as ``mean [low, high]``."""
    return ci(bold(num(stat["mean"], digits), strong), num(stat["ci_low"], digits), num(stat["ci_high"], digits))


PLURALISM_TYPES = ("complete", "short")


def pluralism(path: str) -> str:
    """``experiments/pluralism.py``, two tables, mean [95% CI] over seeds: per-type preference
    accuracy on new users; the per-type true return of each model's best-of-n policy conditioned on
    the user, between the reference (a uniform pick) and the oracle (the type's own gold picks).
    Bold: per column, the one model strictly best at the printed precision."""
    data = read_json(path, rows=True)
    n = read_json(path)["meta"]["settings"]["bon_n"]

    def block(columns: list[str], digits: int, header: list[str], extra: list[list[str]] = ()) -> str:
        best = {c: unique_best([num(r[c]["mean"], digits) for r in data], as_float) for c in columns}
        rows = [[r["label"]] + [mean_ci_cell(r[c], digits, i == best[c]) for c in columns] for i, r in enumerate(data)]
        return table(header, [*rows, *extra])

    accuracy = block([f"accuracy_{t}" for t in PLURALISM_TYPES] + ["accuracy_worst_type"], 3,
                     ["model"] + [f"{t} users" for t in PLURALISM_TYPES] + ["worst type"])
    returns = [f"best_of_n_return_{t}" for t in PLURALISM_TYPES]
    shares = [f"best_of_n_gain_share_{t}" for t in PLURALISM_TYPES]
    bounds = [[label] + [mean_ci_cell(data[0][f"{key}_return_{t}"], 2) for t in PLURALISM_TYPES] + [DASH, DASH]
              for key, label in (("reference", "reference (a uniform pick)"), ("oracle", "oracle (the type's gold picks)"))]
    best_of_n = block(returns + shares, 2,
                      [f"best-of-{n} policy"] + [f"true return, {t} users" for t in PLURALISM_TYPES]
                      + [f"share of the oracle's gain, {t} users" for t in PLURALISM_TYPES], bounds)
    vpl, pal = (next(r for r in data if r["method"] == m) for m in ("vpl", "pal"))
    recovery = (f"Type recovery: VPL's posterior mean gives a new user's type (nearest type mean) for "
                f"{mean_ci_cell(vpl['type_recovery_new_users'], 2)} of them; PAL's largest mixture weight sits on "
                f"the type's prototype for {mean_ci_cell(pal['prototype_assignment_training_users'], 3)} of the "
                f"training users and {mean_ci_cell(pal['prototype_assignment_new_users'], 3)} of the new users.")
    return f"Preference accuracy on new users' fresh pairs:\n\n{accuracy}\n\n{recovery}\n\nPolicies conditioned on " \
           f"the user (best-of-{n} reference candidates by the model's reward for that user):\n\n{best_of_n}"


PARROT_LABELS = {"weighted_sum": "weighted sum (GRPO on `Σ w_k R_k`)",
                 "group_normalized": "per-component group normalization (GDPO)",
                 "pareto": "Pareto selection per group (Parrot)"}
PARROT_COMPONENTS = ("correctness", "format", "brevity")


def parrot(path: str) -> str:
    """``experiments/parrot.py``: per combination, the true objective (exact match) and each reward
    component at the end (start → end, end with its 95% CI over seeds), the share of samples in
    the loss and the KL to the reference. Bold: per column of final values, the one method strictly
    best at the printed precision."""
    data = read_json(path, rows=True)
    columns = ["final_accuracy"] + [f"final_{c}" for c in PARROT_COMPONENTS]
    best = {c: unique_best([num(r[c]["mean"], 3) for r in data], as_float) for c in columns}
    rows = []
    for i, r in enumerate(data):
        cells = [f"{num(r['initial' + c[5:]]['mean'], 3)} → {mean_ci_cell(r[c], 3, i == best[c])}" for c in columns]
        rows.append([PARROT_LABELS.get(r["method"], r["method"]), *cells, mean_ci_cell(r["final_length"], 2),
                     num(r["final_kept_share"]["mean"], 2), num(r["final_kl"]["mean"], 3)])
    return table(["method", "exact match (true)", *PARROT_COMPONENTS, "tokens per completion", "share of samples kept",
                  "KL to reference (per token)"], rows)


def _interval(stat: dict, digits: int) -> str:
    """A ``{"low", "high"}`` CI as ``[low, high]`` (– where the bootstrap found none)."""
    low, high = stat["low"], stat["high"]
    if low is None or high is None or math.isnan(low) or math.isnan(high):
        return DASH
    return f"[{num(low, digits)}, {num(high, digits)}]"


def completion_overoptimization(path: str) -> str:
    """``experiments/completion_overoptimization.py``, four tables: best-of-n's gold (exact match)
    against n per proxy, mean [95% CI] over seeds at its peak n; best-of-n's d, measured and by
    the closed form; Gao et al.'s fits (alpha, beta,
    r², the fitted peak d*, with bootstrap CIs over seeds); RL per KL coefficient and mitigation.
    Bold: in the best-of-n table, each row's highest gold; in the RL table, the highest final gold."""
    data = read_json(path, rows=True)
    ns = read_json(path)["meta"]["settings"]["bon_n"]
    bon = [r for r in data if r["kind"] == "bon"]
    rows = []
    for r in bon:
        golds = [num(r[f"gold_n{n}"]["mean"], 3) for n in ns]
        top = unique_best(golds, as_float)
        cells = [mean_ci_cell(r[f"gold_n{n}"], 3, True) if i == top else golds[i] for i, n in enumerate(ns)]
        rows.append([r["label"], mean_ci_cell(r["rm_accuracy"], 2), *cells])
    best_of_n = table(["proxy (labels, model)", "held-out accuracy", *[f"n = {n}" for n in ns]], rows)
    closed = next(r for r in data if r["kind"] == "closed_form_kl")
    distances = table(["d of best-of-n", *[f"n = {n}" for n in ns]],
                      [[f"measured, {r['label']}", *[num(r[f"d_n{n}"]["mean"], 2) for n in ns]] for r in bon]
                      + [["closed form `sqrt(log n − (n − 1)/n)`", *[num(closed[f"d_n{n}"], 2) for n in ns]]])

    fits = []
    for r in (r for r in data if r["kind"] == "fit"):
        kind, _, label = r["label"].partition(" ")
        peak = DASH if r["peak_d"] is None else f"{num(r['peak_d'], 2)} {_interval(r['peak_d_ci'], 2)}"
        gain = DASH if r["peak_gold_gain"] is None else signed(r["peak_gold_gain"], 3)
        fits.append(["best-of-n" if kind == "bon" else "RL, KL coef 0", label,
                     f"{signed(r['alpha'], 3)} {_interval(r['alpha_ci'], 3)}",
                     f"{signed(r['beta'], 3)} {_interval(r['beta_ci'], 3)}", num(r["r2"], 2), peak, gain,
                     num(r["d_max_measured"], 2)])
    fit_table = table(["optimization", "proxy", "α [95% CI]", "β [95% CI]", "r²", "fitted peak d* [95% CI]",
                       "fitted gold gain at d*", "largest d measured"], fits)

    rl = [r for r in data if r["kind"] == "rl"]
    finals = [num(r["final_gold"]["mean"], 3) for r in rl]
    top = unique_best(finals, as_float)
    rl_rows = [[r["label"], num(r["kl_coef"], 2), num(r["initial_gold"]["mean"], 3), mean_ci_cell(r["peak_gold"], 3),
                mean_ci_cell(r["final_gold"], 3, i == top), mean_ci_cell(r["final_proxy"], 2),
                mean_ci_cell(r["final_d"], 2), num(r["final_length"]["mean"], 2)] for i, r in enumerate(rl)]
    rl_table = table(["proxy (labels, model)", "KL coef", "gold at start", "peak gold (best update)", "final gold",
                      "final proxy", "final d", "final tokens"], rl_rows)
    return (f"Best-of-n, gold by n:\n\n{best_of_n}\n\nBest-of-n's distance from the reference, measured on the "
            f"pools:\n\n{distances}\n\nGao et al.'s forms fitted to the seed-mean gold gain "
            f"over the reference:\n\n{fit_table}\n\nRL (GRPO) on the proxy:\n\n{rl_table}")


def seq_throughput(path: str) -> str:
    """``benchmarks/seq_throughput.py``: tokens/s of the task envs alone, of sampling completions and
    of whole GRPO updates, per task and token network, with the compile times."""
    data = read_json(path, rows=True)
    rows = [[f"`{r['task']}`", r["network"], str(r["completion_tokens"]),
             num(r["env_tokens_per_second"], 0, thousands=True), num(r["sample_tokens_per_second"], 0, thousands=True),
             num(r["ms_per_token_step"], 2), num(r["update_tokens_per_second"], 0, thousands=True),
             f"{num(r['sample_compile_seconds'], 1)} / {num(r['update_compile_seconds'], 1)}"] for r in data]
    return table(["task", "network", "completion tokens", "env alone (tokens/s)", "sampling (tokens/s)",
                  "ms per token step (64 completions)", "GRPO update (tokens/s)", "compile: sampling / update (s)"],
                 rows)


def mutants(path: str) -> str:
    """``benchmarks/mutants.py``: how many of the planted bugs the default suite's tests kill."""
    data = read_json(path)
    rows = data["rows"]
    killed = sum(r["outcome"] == "killed" for r in rows)
    survivors = [r["mutant"] for r in rows if r["outcome"] != "killed"]
    text = f"[{killed} of {len(rows)} are killed](benchmarks/results/mutants.csv)"
    return text + (f"; not killed: {', '.join(f'`{m}`' for m in survivors)}." if survivors else ".")


BLOCKS: dict[str, Block] = {
    "summary": Block(results_summary, SUMMARY_SOURCES),
    "reward-lab": Block(reward_lab, ("benchmarks/results/reward-lab/aggregates.parquet",
                                     "benchmarks/results/reward-lab/scores.parquet")),
    "deep-sea": Block(deep_sea, ("experiments/results/deep_exploration_deep_sea20.json",
                                 "experiments/results/deep_exploration_deep_sea20_running_intrinsic.json")),
    "noisy-tv": Block(noisy_tv, ("experiments/results/noisy_tv.json",
                                 "experiments/results/noisy_tv_running_intrinsic.json")),
    "preference-rl": Block(preference_rl, ("experiments/results/preference_rl_cartpole_v1.json",
                                           "experiments/results/preference_rl_tomato_watering.json")),
    "scaling-runs": Block(scaling_runs, ("benchmarks/results/scaling.json",)),
    "scaling-devices": Block(scaling_devices, ("benchmarks/results/scaling.json",)),
    "throughput": Block(throughput, ("benchmarks/results/throughput.json",)),
    "throughput-breakdown": Block(throughput_breakdown, ("benchmarks/results/throughput.json",)),
    "throughput-ant-mjx": Block(throughput, ("benchmarks/results/throughput_ant_mjx.json",)),
    "reward-overhead": Block(reward_overhead, ("benchmarks/results/reward_overhead.json",)),
    "brax-reproduction": Block(brax_reproduction, ("benchmarks/results/reproduce_brax_preset.json",
                                                   "benchmarks/results/reproduce_brax_orthogonal.json",
                                                   "benchmarks/results/reproduce_ip_8seeds.json",
                                                   "benchmarks/results/reproduce_ant.json",
                                                   "benchmarks/results/reproduce_ant_preset.json")),
    "reproduction": Block(reproduction, ("benchmarks/results/reproduce_classic.json",
                                         "benchmarks/results/reproduce_minatar.json",
                                         "benchmarks/results/reproduce_minatar_rest.json",
                                         "benchmarks/results/reproduce_asterix_init.json",
                                         "benchmarks/results/reproduce_asterix_fixed_partition.json",
                                         "benchmarks/results/reproduce_minatar_rest2.json",
                                         "benchmarks/results/reproduce_minatar_si.json",
                                         "benchmarks/results/published_checkpoints.json",
                                         "benchmarks/results/blines_trainer_Pendulum-v1.json",
                                         "benchmarks/results/asterix_vs_blines.json")),
    "asterix-vs-blines": Block(asterix_vs_blines, ("benchmarks/results/asterix_vs_blines.json",)),
    "gail": Block(gail, ("experiments/results/gail_cartpole.json", "experiments/results/gail_pendulum.json")),
    "imitation-side-by-side": Block(imitation_side_by_side, ("benchmarks/results/imitation_side_by_side.json",)),
    "return-decomposition": Block(return_decomposition, ("experiments/results/return_decomposition_cartpole_v1.json",)),
    "reward-overoptimization": Block(reward_overoptimization,
                                     ("experiments/results/reward_overoptimization_200labels.json",
                                      "experiments/results/reward_overoptimization_2000labels.json")),
    "boat-race": Block(boat_race, ("experiments/results/boat_race_summary.json",)),
    "aisg-boat-race": Block(aisg_boat_race, ("experiments/results/aisg_boat_race_summary.json",)),
    "estimators": Block(estimators, ("benchmarks/results/estimators.json",)),
    "lab-envs": Block(lab_envs, ("benchmarks/results/envs.json",)),
    "quickstart": Block(quickstart, ("experiments/results/quickstart.json",)),
    "pbrs-deepsea": Block(pbrs_deepsea, ("experiments/results/pbrs_deepsea10.json",)),
    "seq-lab-addition": Block(seq_lab, ("experiments/results/seq_lab_addition.json",)),
    "seq-lab-chain": Block(seq_lab, ("experiments/results/seq_lab_chain.json",)),
    "seq-lab-proxy": Block(seq_lab, ("experiments/results/seq_lab_addition_length_proxy.json",)),
    "seq-throughput": Block(seq_throughput, ("benchmarks/results/seq_throughput.json",)),
    "mutants": Block(mutants, ("benchmarks/results/mutants.json",)),
    "pluralism": Block(pluralism, ("experiments/results/pluralism.json",)),
    "parrot": Block(parrot, ("experiments/results/parrot_addition_components.json",)),
    "completion-overoptimization": Block(completion_overoptimization,
                                         ("experiments/results/completion_overoptimization_steps.json",)),
}


# ---------------------------------------------------------------------------------------------
# reading and rewriting the files that hold the blocks

# Markers may be indented (a block inside a list item); the renderer then indents its lines too.
BLOCK_RE = re.compile(r"^ *<!-- generated: (?P<name>[\w-]+) \(from (?P<sources>[^)]*)\) -->\n(?P<body>.*?)^ *<!-- /generated -->$",
                      re.DOTALL | re.MULTILINE)


@dataclass(frozen=True)
class Found:
    name: str
    sources: tuple[str, ...]
    body: str
    span: tuple[int, int]


def find_blocks(text: str) -> list[Found]:
    return [Found(m["name"], tuple(s.strip() for s in m["sources"].split(",")), m["body"].rstrip("\n"),
                  m.span("body")) for m in BLOCK_RE.finditer(text)]


def read_targets(root: Path = ROOT) -> dict[str, str]:
    """``{path: text}`` of every file that may hold generated blocks (``target_files``), under ``root``."""
    return {path: (root / path).read_text() for path in target_files(root)}


def problems_in(text: str, where: str) -> list[str]:
    """Every way the blocks of ``text`` (the file ``where``) disagree with the result files, one line each."""
    out = []
    found = find_blocks(text)
    if text.count("<!-- generated:") != len(found):
        out.append(f"{where}: a '<!-- generated: ... -->' marker without a matching '<!-- /generated -->' or of "
                   "the wrong form")
    for f in found:
        if f.name not in BLOCKS:
            out.append(f"{f.name}: no such block, in {where} (known: {', '.join(BLOCKS)})")
            continue
        block = BLOCKS[f.name]
        if f.sources != block.sources:
            out.append(f"{f.name}: the marker in {where} names {', '.join(f.sources)}; the block reads "
                       f"{', '.join(block.sources)}")
        missing = [s for s in block.sources if not (ROOT / s).is_file()]
        if missing:
            out.append(f"{f.name}: source file missing: {', '.join(missing)}")
            continue
        expected = block.text(where)
        if f.body != expected:
            diff = [f"    {where}: {a}\n    files:  {b}" for a, b in zip(f.body.splitlines(), expected.splitlines())
                    if a != b]
            if len(f.body.splitlines()) != len(expected.splitlines()):
                diff.append(f"    {where} has {len(f.body.splitlines())} lines, the files give "
                            f"{len(expected.splitlines())}")
            out.append(f"{f.name}: {where} differs from {', '.join(block.sources)}\n" + "\n".join(diff))
    return out


def problems(texts: dict[str, str]) -> list[str]:
    """Every way the files ``texts`` (``{path: text}``, as ``read_targets`` gives them) disagree with
    the result files, one line each; empty when none. Each block must appear once across them."""
    out = []
    where: dict[str, list[str]] = {}
    for path, text in texts.items():
        out += problems_in(text, path)
        for f in find_blocks(text):
            where.setdefault(f.name, []).append(path)
    for name in BLOCKS:
        if name not in where:
            out.append(f"{name}: in none of the files (add its markers to one of {', '.join(texts)})")
    for name, paths in where.items():
        if len(paths) > 1:
            out.append(f"{name}: appears {len(paths)} times ({', '.join(paths)})")
    return out


def rewrite(text: str, where: str = "README.md") -> str:
    """``text`` (the file ``where``) with every known block's body rendered from its files (markers
    rewritten to name them)."""
    for f in reversed(find_blocks(text)):
        if f.name not in BLOCKS:
            continue
        block = BLOCKS[f.name]
        start = text.rfind("<!-- generated:", 0, f.span[0])
        text = (text[:start] + f"<!-- generated: {f.name} (from {', '.join(block.sources)}) -->\n"
                + block.text(where) + "\n" + text[f.span[1]:])
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 listing blocks that differ")
    parser.add_argument("--root", type=Path, default=ROOT,
                        help="the tree whose README.md, benchmarks/README.md and docs/ hold the blocks (default: "
                             "this repository; the result files are always this repository's)")
    parser.add_argument("--print", dest="show", metavar="NAME", help="print one block as the files give it")
    args = parser.parse_args(argv)
    if args.show:
        print(BLOCKS[args.show].text())
        return 0
    texts = read_targets(args.root)
    count = sum(len(find_blocks(t)) for t in texts.values())
    if args.check:
        found = problems(texts)
        for line in found:
            print(line)
        print(f"{count} generated blocks in {len(texts)} files; {len(found)} problem(s)")
        return 1 if found else 0
    new = {path: rewrite(text, path) for path, text in texts.items()}
    changed = [path for path in texts if new[path] != texts[path]]
    for path in changed:
        (args.root / path).write_text(new[path])
    left = problems(new)
    for line in left:
        print(line)
    print(f"rewrote {len(changed)} of {len(texts)} files ({', '.join(changed) or 'none changed'}): {count} generated "
          f"blocks; {len(left)} problem(s) left")
    return 1 if left else 0


if __name__ == "__main__":
    sys.exit(main())

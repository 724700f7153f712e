"""Raw env-step throughput of the reward-lab envs (and two gymnax anchors), in one run.

    python -m benchmarks.env_throughput [--num-envs 1024] [--num-steps 1000] [--repeats 5]

Each env runs ``--num-envs`` copies under uniformly random actions in one jitted ``lax.scan``
(auto-reset included, as in training); the rate is the median of ``--repeats`` timed calls,
compile excluded and reported separately. Target on 2 CPU cores: >= 1M steps/s for the grid and
point-mass envs. Results: benchmarks/results/envs.{json,csv,png} (the results keep their name; the
script was ``benchmarks/envs.py``, renamed because run as a file it shadowed the ``envs`` package).
"""

from __future__ import annotations

import argparse

import envs
from benchmarks.common import bar_plot, load_results, machine, raw_steps_per_second, write_results

LAB = ("lab/boat_race", "lab/box_push", "lab/tomato_watering", "lab/noisy_tv",
       "lab/point_goal", "lab/point_goal_dense", "lab/point_hazard", "lab/deep_sea")
ANCHORS = ("gymnax/CartPole-v1", "gymnax/DeepSea-bsuite")
TARGET = 1_000_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-envs", type=int, default=1024)
    parser.add_argument("--num-steps", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--envs", nargs="+", default=list(LAB + ANCHORS))
    parser.add_argument("--replot", action="store_true", help="measure nothing: redraw the figure from results/envs.json")
    args = parser.parse_args()
    if args.replot:
        print(f"figure: {plot(*load_results('envs'))}")
        return

    rows = []
    for name in args.envs:
        rate, compile_seconds = raw_steps_per_second(envs.make(name), args.num_envs, args.num_steps, args.repeats)
        target = TARGET if name.startswith("lab/") and name != "lab/deep_sea" else None
        rows.append({"env": name, "steps_per_second": rate, "compile_seconds": compile_seconds,
                     "target_steps_per_second": target, "meets_target": None if target is None else rate >= target})
        verdict = "" if target is None else ("  (>= 1M: yes)" if rate >= target else "  (>= 1M: NO)")
        print(f"{name:24s} {rate:>13,.0f} steps/s   compile {compile_seconds:4.1f} s{verdict}", flush=True)

    meta = {**machine(), **{k: v for k, v in vars(args).items() if k != "replot"}}
    json_path, _ = write_results("envs", rows, meta)
    print(f"results: {json_path}, {plot(rows, meta)}")


def plot(rows: list[dict], meta: dict):
    return bar_plot("envs", [r["env"].split("/")[1] for r in rows], [r["steps_per_second"] for r in rows],
                    "env steps / s", f"raw env stepping, {meta['num_envs']} envs, random actions, {meta['platform']}",
                    reference=(TARGET, "target for grid and point envs"))


if __name__ == "__main__":
    main()

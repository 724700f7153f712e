"""``jrew`` command line: train, resume, plot, render, demos, bench, envs.

  jrew train --env gymnax/CartPole-v1 --algo ppo --seeds 64 --total-steps 500000 --run-dir runs/x
  jrew train --env lab/point_goal --reward "pbrs(potential=point_mass.distance, coef=[0, 1])" --eval-every 10
  jrew bench benchmarks/suites/smoke.toml --out runs/smoke   (a suite of reward variants -> report.md)
  jrew resume runs/x
  jrew plot runs/x
  jrew render runs/x --run 0           (an episode of run 0's policy -> runs/x/episode.gif)
  jrew render --env lab/boat_race      (an episode of random actions)
  jrew demos runs/x --episodes 10     (expert episodes of run 0's policy -> runs/x/demos.npz)
  jrew envs [--transforms | --functions]

``train`` flags beyond --algo/--seeds/--run-dir/--chunk-updates come from the algorithm's config
dataclass (``jrew train --algo ppo --help`` lists them).
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import sys
from pathlib import Path
from typing import Annotated

import tyro


@dataclasses.dataclass(frozen=True)
class RunArgs:
    seeds: int = 8
    """number of seeds trained together in one compiled program (seeds 0..N-1)"""
    run_dir: Path | None = None
    """where config.json, metrics.csv, checkpoints and plots go (default runs/<env>-<algo>)"""
    chunk_updates: int | None = None
    """updates per compiled chunk: the progress, metrics and checkpoint interval"""
    until_update: int | None = None
    """pause after this many updates (resume later with `jrew resume`)"""
    reward: str | None = None
    """reward pipeline, e.g. "chain(normalize_returns(), pbrs(potential=deep_sea.column, coef=[0, 0.5]))";
    a list where a number goes is a grid (`jrew envs --transforms` / `--functions` list the names)"""
    grid: tuple[str, ...] = ()
    """numeric hyperparameter grids, e.g. learning_rate=3e-4,1e-3 gamma=0.99,0.999 (with --reward's grid: the product)"""
    eval_every: int | None = None
    """evaluate every this many updates (eval/true_return in metrics.csv); default: no evaluation"""
    eval_episodes: int = 16
    """evaluation episodes per run, with a fixed key (the same initial states for every run)"""
    eval_stochastic: bool = False
    """evaluate by sampling the policy instead of taking its mode"""


def _report(result, run_dir: Path) -> None:
    from jrew import plotting, stats
    from jrew import run_dir as files

    labels = files.read_config(run_dir).variant_labels or [""]
    for metric in ("true_return", "eval/true_return"):
        if metric not in result.metrics:
            continue
        for label, finals in zip(labels, result.final(metric).reshape(len(labels), -1)):
            s = stats.summarize(finals)
            print(
                f"final {metric.replace('_', ' ').replace('/', ' ')} over {finals.size} seeds"
                f"{' of ' + label if label else ''}: mean {s['mean']:.1f}  "
                f"IQM {s['iqm']:.1f}  (min {s['min']:.1f}, max {s['max']:.1f})"
            )
    print(
        f"compile {result.compile_seconds:.1f}s, train {result.train_seconds:.1f}s, "
        f"{result.steps_per_second:,.0f} env steps/s over all seeds"
    )
    print(f"run directory: {run_dir}   plot: {plotting.plot_run(run_dir)}")


def train_command(argv: list[str]) -> None:
    from jrew import algos

    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--algo", default="ppo", choices=sorted(algos.ALGORITHMS))
    known, rest = pre.parse_known_args(argv)
    config_cls = algos.by_name(known.algo).config_cls
    args, config = tyro.cli(
        tuple[
            Annotated[RunArgs, tyro.conf.arg(name="")],
            Annotated[config_cls, tyro.conf.arg(name="")],
        ],
        args=rest,
        prog=f"jrew train --algo {known.algo}",
        description=f"Train {known.algo} on every seed in one compiled program.",
    )
    from jrew import evaluation, runner
    from jrew.rewards import spec

    num_rewards = len(spec.parse(args.reward)) if args.reward is not None else 1
    configs = [c for c in grid_configs(config, args.grid) for _ in range(num_rewards)]
    run_dir = args.run_dir or Path("runs") / f"{config.env.replace('/', '_')}-{known.algo}"
    evaluate = (evaluation.Evaluation(args.eval_every, args.eval_episodes, not args.eval_stochastic)
                if args.eval_every is not None else None)
    result = runner.train(
        configs, seeds=args.seeds, run_dir=run_dir, reward=args.reward, evaluation=evaluate,
        chunk_updates=args.chunk_updates, until_update=args.until_update,
    )
    _report(result, run_dir)


def grid_configs(config, grids: tuple[str, ...]) -> list:
    """``config`` once per point of the hyperparameter grids ``("name=v1,v2", ...)``, last varying fastest."""
    from jrew import config as config_lib

    numeric = {f.name for f in dataclasses.fields(config) if config_lib.is_numeric(f)}
    axes = []
    for text in grids:
        name, sep, values = text.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or not values.strip():
            raise ValueError(f"--grid takes name=value1,value2,..., got {text!r}")
        if name not in numeric:
            raise ValueError(f"--grid {name!r} is not a numeric hyperparameter of {type(config).__name__}; "
                             f"gridable: {', '.join(sorted(numeric))}")
        try:
            axes.append([(name, float(v)) for v in values.split(",")])
        except ValueError:
            raise ValueError(f"--grid {name}: values must be numbers, got {values!r}") from None
    return [config.replace(**dict(point)) for point in itertools.product(*axes)]


def resume_command(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="jrew resume", description="Continue a run from its latest checkpoint.")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--until-update", type=int, default=None)
    args = parser.parse_args(argv)
    from jrew import runner

    result = runner.resume(args.run_dir, until_update=args.until_update)
    _report(result, args.run_dir)


def plot_command(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="jrew plot", description="Plot a metric of a run vs env steps.")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--metric", default="true_return")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    from jrew import plotting

    print(plotting.plot_run(args.run_dir, args.metric, args.out))


def render_command(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="jrew render", description="Save one episode as an animated GIF (and optionally PNG frames)."
    )
    parser.add_argument("run_dir", type=Path, nargs="?", help="a trained run: play its policy")
    parser.add_argument("--run", type=int, default=0, help="which run of run_dir (row order of metrics.csv)")
    parser.add_argument("--env", default=None, help="no run_dir: play random actions in this env")
    parser.add_argument("--env-kwargs", nargs="*", default=[], help="name value pairs for --env")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-steps", type=int, default=1000)
    parser.add_argument("--fps", type=float, default=8.0)
    parser.add_argument("--out", type=Path, default=None, help="GIF path (default <run_dir>/episode.gif)")
    parser.add_argument("--frames", type=Path, default=None, help="also write PNG frames into this folder")
    args = parser.parse_args(argv)
    if (args.run_dir is None) == (args.env is None):
        parser.error("give either a run directory or --env")
    if len(args.env_kwargs) % 2:
        parser.error(f"--env-kwargs takes name value pairs, got {args.env_kwargs}")
    import jax

    import envs
    from envs import render

    if args.run_dir is not None:
        from jrew import runner

        env, act = runner.trained_policy(args.run_dir, args.run)
        out = args.out or args.run_dir / "episode.gif"
    else:
        pairs = list(zip(args.env_kwargs[::2], args.env_kwargs[1::2]))
        env = envs.make(args.env, **envs.parse_kwargs(pairs))
        act = render.random_actions(env)
        out = args.out or Path("runs") / f"{args.env.replace('/', '_')}-random.gif"
    states = render.record_episode(env, act, jax.random.PRNGKey(args.seed), args.max_steps)
    images = render.frames(env, states)
    print(f"episode: {len(states) - 1} steps, visible return {sum(float(s.reward) for s in states[1:]):.3f}, "
          f"true return {sum(float(s.info['true_reward']) for s in states[1:]):.3f}")
    print(f"gif: {render.save_gif(images, out, args.fps)}")
    if args.frames is not None:
        print(f"frames: {len(render.save_pngs(images, args.frames))} PNGs in {args.frames}")


def demos_command(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="jrew demos", description="Record episodes of a trained run's policy as demonstrations (for GAIL).")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--episodes", type=int, default=10, help="how many episodes to record")
    parser.add_argument("--run", type=int, default=0, help="which run of run_dir (row order of metrics.csv)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-steps", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=None, help="npz path (default <run_dir>/demos.npz)")
    args = parser.parse_args(argv)
    from jrew import demonstrations

    demos = demonstrations.record(args.run_dir, args.episodes, run=args.run, seed=args.seed, max_steps=args.max_steps)
    path = demonstrations.save(demos, args.out or args.run_dir / "demos.npz")
    print(f"{len(demos.episode_lengths)} episodes, {demos.num_steps} steps of {demos.env}: true return mean "
          f"{demos.mean_return:.1f} (min {demos.episode_returns.min():.1f}, max {demos.episode_returns.max():.1f})")
    print(f"demonstrations: {path}")


def bench_command(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="jrew bench",
        description="Run a benchmark suite (TOML) of reward variants and write report.md, Parquet tables and plots. "
                    "Rerun on the same --out to resume an interrupted suite.")
    parser.add_argument("suite", type=Path, help="suite file, e.g. benchmarks/suites/smoke.toml")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default runs/bench-<suite name>)")
    parser.add_argument("--until-update", type=int, default=None,
                        help="pause every group after this many updates (rerun to continue)")
    parser.add_argument("--check", action="store_true", help="only read and check the suite, then list its groups")
    parser.add_argument("--reps", type=int, default=2000, help="bootstrap resamples for the CIs")
    args = parser.parse_args(argv)
    from jrew import bench

    suite = bench.load(args.suite)
    runs = sum(len(g.variants) for g in suite.groups) * len(suite.seeds)
    print(f"suite {suite.name}: {len(suite.tasks)} task(s), {len(suite.variant_names)} variant(s), "
          f"{len(suite.groups)} program(s), {runs} runs")
    if args.check:
        for g in suite.groups:
            print(f"  {g.task.key:14s} {g.name:24s} {g.algo:4s} {', '.join(v.name for v in g.variants)}")
        return
    out = args.out or Path("runs") / f"bench-{suite.name}"
    bench.run_suite(suite, out, until_update=args.until_update)
    if bench.unfinished(suite, out):
        print(f"paused; rerun the same command to continue: jrew bench {args.suite} --out {out}")
        return
    print(f"report: {bench.write_report(suite, out, reps=args.reps)}")


def envs_command(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="jrew envs", description="List environment names for --env.")
    parser.add_argument("--family", default=None, help="only names starting with this, e.g. gymnax or brax")
    parser.add_argument("--functions", action="store_true", help="list the named potentials and predicates")
    parser.add_argument("--transforms", action="store_true", help="list the reward transforms for --reward")
    args = parser.parse_args(argv)
    import envs

    if args.transforms:
        from jrew.rewards import spec

        for text in spec.catalog().values():
            print(text)
        return
    if args.functions:
        from envs import named

        for name, f in named.all_functions().items():
            print(f"{name:26s} {f.kind:10s} {f.description}  [{f.envs}]")
        return

    for name, description in envs.describe().items():
        if args.family is None or name.startswith(args.family):
            print(f"{name:40s} {description}")


COMMANDS = {
    "train": train_command, "resume": resume_command, "plot": plot_command, "render": render_command,
    "demos": demos_command, "bench": bench_command, "envs": envs_command,
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in COMMANDS:
        print(__doc__.strip())
        print(f"\ncommands: {', '.join(COMMANDS)}")
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    try:
        COMMANDS[argv[0]](argv[1:])
    except (ValueError, TypeError, FileExistsError, FileNotFoundError) as err:  # SuiteError, RewardSpecError too
        print(f"jrew {argv[0]}: error: {err}", file=sys.stderr)
        return 2
    except RuntimeError as err:
        from jrew.runner import TrainingDivergedError  # already imported by whatever trained

        if not isinstance(err, TrainingDivergedError):
            raise
        print(f"jrew {argv[0]}: training diverged: {err}", file=sys.stderr)
        return 1
    except SystemExit as stop:  # argparse/tyro usage errors and --help: return the code, don't exit
        return stop.code if isinstance(stop.code, int) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

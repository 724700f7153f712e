"""``jrew`` command line: train, resume, plot, envs.

  jrew train --env gymnax/CartPole-v1 --algo ppo --seeds 64 --total-steps 500000 --run-dir runs/x
  jrew resume runs/x
  jrew plot runs/x
  jrew envs

``train`` flags beyond --algo/--seeds/--run-dir/--chunk-updates come from the algorithm's config
dataclass (``jrew train --algo ppo --help`` lists them).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Annotated

import tyro

from jrew.algos import ALGORITHMS


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


def _report(result, run_dir: Path) -> None:
    from jrew import plotting, stats

    s = stats.summarize(result.final("true_return"))
    print(
        f"final true return over {len(result.seeds)} seeds: mean {s['mean']:.1f}  IQM {s['iqm']:.1f}  "
        f"(min {s['min']:.1f}, max {s['max']:.1f})"
    )
    print(
        f"compile {result.compile_seconds:.1f}s, train {result.train_seconds:.1f}s, "
        f"{result.steps_per_second:,.0f} env steps/s over all seeds"
    )
    print(f"run directory: {run_dir}   plot: {plotting.plot_run(run_dir)}")


def train_command(argv: list[str]) -> None:
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--algo", default="ppo", choices=sorted(ALGORITHMS))
    known, rest = pre.parse_known_args(argv)
    config_cls = ALGORITHMS[known.algo][0]
    args, config = tyro.cli(
        tuple[
            Annotated[RunArgs, tyro.conf.arg(name="")],
            Annotated[config_cls, tyro.conf.arg(name="")],
        ],
        args=rest,
        prog=f"jrew train --algo {known.algo}",
        description=f"Train {known.algo} on every seed in one compiled program.",
    )
    from jrew import runner

    run_dir = args.run_dir or Path("runs") / f"{config.env.replace('/', '_')}-{known.algo}"
    result = runner.train(
        config, seeds=args.seeds, run_dir=run_dir, algo=known.algo,
        chunk_updates=args.chunk_updates, until_update=args.until_update,
    )
    _report(result, run_dir)


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


def envs_command(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="jrew envs", description="List environment names for --env.")
    parser.add_argument("--family", default=None, help="only names starting with this, e.g. gymnax or brax")
    args = parser.parse_args(argv)
    import envs

    for name, description in envs.describe().items():
        if args.family is None or name.startswith(args.family):
            print(f"{name:40s} {description}")


COMMANDS = {"train": train_command, "resume": resume_command, "plot": plot_command, "envs": envs_command}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in COMMANDS:
        print(__doc__.strip())
        print(f"\ncommands: {', '.join(COMMANDS)}")
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    try:
        COMMANDS[argv[0]](argv[1:])
    except (ValueError, FileExistsError, FileNotFoundError) as err:
        print(f"jrew {argv[0]}: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``jrew`` command line: train, resume, plot, render, export, demos, bench, envs.

  jrew train --env gymnax/CartPole-v1 --algo ppo --seeds 64 --total-steps 500000 --run-dir runs/x
  jrew train --env lab/point_goal --reward "pbrs(potential=point_mass.distance, coef=[0, 1])" --eval-every 10
  jrew train --env lab/deep_sea --env-kwargs size=20   (env constructor kwargs as key=value)
  jrew bench benchmarks/suites/smoke.toml --out runs/smoke   (a suite of reward variants -> report.md)
  jrew resume runs/x                   (continue from the last checkpoint; Ctrl-C in train/resume keeps it)
  jrew resume runs/x --total-steps 1000000   (extend, where the learner allows: not with PPO's anneal_lr)
  jrew plot runs/x                     (true return, visible return dashed; PNG + PDF + SVG)
  jrew plot runs/a runs/b runs/c --out cmp.png   (one figure, a line per run)
  jrew plot runs/bench-smoke           (a bench folder: a figure per task)
  jrew render runs/x --run 0           (an episode of run 0's policy -> runs/x/episode.gif)
  jrew render --env lab/boat_race      (an episode of random actions; Brax envs: an HTML viewer)
  jrew export runs/x --run 0           (run 0's inference policy -> runs/x/policy-run0, for jrew.load_policy)
  jrew demos runs/x --episodes 10     (expert episodes of run 0's policy -> runs/x/demos.npz)
  jrew envs [--transforms | --functions]

``train`` flags beyond --algo/--seeds/--run-dir/--chunk-updates come from the algorithm's config
dataclass (``jrew train --algo ppo --help`` lists them).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path
from typing import Annotated, Literal

import tyro


@dataclasses.dataclass(frozen=True)
class RunArgs:
    seeds: int = 8
    """number of seeds trained together in one compiled program (seeds 0..N-1)"""
    run_dir: Path | None = None
    """where config.json, metrics, checkpoints and plots go (default runs/<env>-<algo>)"""
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
    """evaluate every this many updates (eval/true_return in the metrics); default: no evaluation"""
    eval_episodes: int = 16
    """evaluation episodes per run, with a fixed key (the same initial states for every run)"""
    eval_stochastic: bool = False
    """evaluate by sampling the policy instead of taking its mode"""
    tensorboard: bool = False
    """also write TensorBoard event files to <run_dir>/tensorboard (one folder per variant)"""
    wandb_project: str | None = None
    """also log to this Weights & Biases project (needs `pip install 'jrew[wandb]'`)"""
    wandb_mode: Literal["offline", "online", "disabled"] = "offline"
    """offline (files in <run_dir>/wandb, `wandb sync` later), online, or disabled"""


def add_distributed_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host-devices", type=int, default=None,
                        help="split the runs over this many CPU devices (XLA's forced host devices): their "
                             "programs run in parallel, a speed-up on a multi-core CPU")
    group = parser.add_argument_group("several processes (jax.distributed; run the same command in each)")
    group.add_argument("--distributed", action="store_true", help="this process is one of several training together")
    group.add_argument("--coordinator-address", default=None,
                       help="host:port of process 0 (default: $JREW_COORDINATOR_ADDRESS, else JAX's cluster detection)")
    group.add_argument("--num-processes", type=int, default=None, help="default: $JREW_NUM_PROCESSES")
    group.add_argument("--process-id", type=int, default=None,
                       help="this process's index; 0 writes the files (default: $JREW_PROCESS_ID)")


def force_host_devices(count: int | None, environ=os.environ) -> None:
    """``--host-devices N``: N CPU devices, set in ``XLA_FLAGS`` before JAX starts."""
    if count is None:
        return
    if count < 1:
        raise ValueError(f"--host-devices must be >= 1, got {count}")
    if "jax" in sys.modules:
        raise RuntimeError("--host-devices must be set before JAX is imported; in Python, set "
                           f"XLA_FLAGS=--xla_force_host_platform_device_count={count} before importing jax")
    environ["XLA_FLAGS"] = host_devices_flags(count, environ.get("XLA_FLAGS", ""))


def host_devices_flags(count: int, xla_flags: str) -> str:
    """``xla_flags`` with the forced host device count set to ``count`` (any earlier count replaced)."""
    kept = [f for f in xla_flags.split() if not f.startswith("--xla_force_host_platform_device_count")]
    return " ".join([*kept, f"--xla_force_host_platform_device_count={count}"])


def start_distributed(args) -> None:
    """``--host-devices``, then ``--distributed``: joins the other processes before anything
    touches a device."""
    force_host_devices(args.host_devices)
    if args.distributed:
        from jrew import distributed

        distributed.initialize(args.coordinator_address, args.num_processes, args.process_id)
    elif any(getattr(args, name) is not None for name in ("coordinator_address", "num_processes", "process_id")):
        raise ValueError("--coordinator-address, --num-processes and --process-id need --distributed")


def sinks(run_dir: Path, tensorboard: bool, wandb_project: str | None, wandb_mode: str, config: dict) -> list:
    """The logging callbacks the CLI flags ask for (``config`` goes to W&B's run config); none in
    processes other than 0 under --distributed."""
    from jrew import distributed
    from jrew import sinks as sinks_lib

    out = []
    if not distributed.is_writer():
        return out
    if tensorboard:
        out.append(sinks_lib.TensorBoard(run_dir / "tensorboard"))
        print(f"TensorBoard: tensorboard --logdir {run_dir / 'tensorboard'}")
    if wandb_project is not None:
        out.append(sinks_lib.WandB(wandb_project, run_dir.name, config, run_dir, wandb_mode))
    return out


def env_kwargs_pairs(tokens: list[str]) -> list[str]:
    """``["size=8", "backend", "mjx"]`` -> ``["size", "8", "backend", "mjx"]``: key=value or name value."""
    flat, pending = [], []
    for token in tokens:
        if "=" in token and not pending:
            name, _, value = token.partition("=")
            if not name:
                raise ValueError(f"--env-kwargs takes key=value, got {token!r}")
            flat += [name, value]
        else:
            pending.append(token)
            if len(pending) == 2:
                flat += pending
                pending = []
    if pending:
        raise ValueError(f"--env-kwargs takes key=value (e.g. size=8), got a lone {pending[0]!r}")
    return flat


def _normalize_env_kwargs(argv: list[str]) -> list[str]:
    """Rewrites ``--env-kwargs k=v ...`` in ``argv`` into the name value pairs the parsers take."""
    out, i = [], 0
    while i < len(argv):
        flag, _, inline = argv[i].partition("=")
        if flag not in ("--env-kwargs", "--env_kwargs"):
            out.append(argv[i])
            i += 1
            continue
        j = i + 1
        while j < len(argv) and not argv[j].startswith("--"):
            j += 1
        out += ["--env-kwargs", *env_kwargs_pairs(([inline] if inline else []) + argv[i + 1:j])]
        i = j
    return out


def _report(result, run_dir: Path) -> None:
    from jrew import distributed, plotting, stats

    if not distributed.is_writer():
        return
    labels = list(result.plan.named_variants) or [""]
    for metric, visible in plotting.VISIBLE_OF.items():  # the visible (env) return beside the true one
        if metric not in result.metrics:
            continue
        per_variant = lambda name: result.by_variant(name)[:, :, -1]
        shown = per_variant(visible) if visible in result.metrics else [None] * len(labels)
        for label, finals, seen in zip(labels, per_variant(metric), shown):
            s = stats.summarize(finals)
            line = (f"final {metric.replace('_', ' ').replace('/', ' ')} over {finals.size} seeds"
                    f"{' of ' + label if label else ''}: mean {s['mean']:.1f}  "
                    f"IQM {s['iqm']:.1f}  (min {s['min']:.1f}, max {s['max']:.1f})")
            if seen is not None:
                v = stats.summarize(seen)
                line += f"   visible (env) return: mean {v['mean']:.1f}  IQM {v['iqm']:.1f}"
            print(line)
    if result.updates_run != 0:  # a finished run resumed ran nothing: no rate
        print(
            f"compile {result.compile_seconds:.1f}s, train {result.train_seconds:.1f}s, "
            f"{result.steps_per_second:,.0f} env steps/s over all seeds"
        )
    print(f"run directory: {run_dir}   plot: {plotting.plot_run(run_dir, visible=True)}")


class Interrupted(Exception):
    """Ctrl-C during a run: ``main`` says where it stopped and how to continue, without a traceback."""

    def __init__(self, run_dir: Path):
        super().__init__(str(run_dir))
        self.run_dir = run_dir


def _interruptible(where: Path, train, /, *args, **kwargs):
    """``train(*args, **kwargs)``, a Ctrl-C in it raised as ``Interrupted(where)`` (the runner has
    finished its checkpoint writes by then)."""
    try:
        return train(*args, **kwargs)
    except KeyboardInterrupt:
        raise Interrupted(where) from None


def stopped_message(run_dir: Path) -> str:
    """Where an interrupted run stopped: its last checkpoint, which ``jrew resume`` continues from."""
    from jrew import run_dir as files

    if not files.has_run(run_dir):
        return f"stopped before the run started (no {files.CONFIG_FILE} in {run_dir})"
    from jrew.checkpoints import Checkpoints

    update = Checkpoints(run_dir).latest_step() if (run_dir / files.CHECKPOINT_DIR).exists() else None
    if update is None:
        return f"stopped before the first checkpoint; `jrew resume {run_dir}` starts it over from update 0"
    return f"stopped at update {update}; `jrew resume {run_dir}` continues"


def train_command(argv: list[str]) -> None:
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--algo", default="ppo")
    pre.add_argument("--preset", default=None)
    add_distributed_flags(pre)
    known, rest = pre.parse_known_args(_normalize_env_kwargs(argv))
    start_distributed(known)  # before the imports below: gymnax makes arrays when imported
    from jrew import algos

    config_cls = algos.by_name(known.algo).config_cls
    args, config = _parse_train_args(config_cls, known.algo, rest)
    if known.preset is not None:  # again, with the preset's values as defaults: explicit flags win
        from jrew import presets

        preset_config, preset_reward = presets.preset(known.preset, config_cls(env=config.env))
        args, config = _parse_train_args(config_cls, known.algo, rest, (RunArgs(), preset_config))
        print(f"preset {known.preset}: {', '.join(sorted(presets.fields(known.preset, config.env)))}")
        if args.reward is None and preset_reward is not None:
            args = dataclasses.replace(args, reward=preset_reward)
            print(f"preset {known.preset}: reward {args.reward} (Brax's reward_scaling)")
    from jrew import config as config_lib
    from jrew import evaluation, runner
    from jrew.plan import expand

    plan = expand(config, grid=grid_flags(config, args.grid), reward=args.reward, seeds=args.seeds)
    run_dir = args.run_dir or Path("runs") / f"{config.env.replace('/', '_')}-{known.algo}"
    evaluate = (evaluation.Evaluation(args.eval_every, args.eval_episodes, not args.eval_stochastic)
                if args.eval_every is not None else None)
    callbacks = sinks(run_dir, args.tensorboard, args.wandb_project, args.wandb_mode, config_lib.to_dict(plan.config))
    result = _interruptible(run_dir, runner.train, plan, run_dir=run_dir, evaluation=evaluate,
                            chunk_updates=args.chunk_updates, until_update=args.until_update, callbacks=callbacks)
    _report(result, run_dir)


def _parse_train_args(config_cls, algo: str, argv: list[str], default=None):
    defaults = {} if default is None else {"default": default}
    return tyro.cli(
        tuple[
            Annotated[RunArgs, tyro.conf.arg(name="")],
            Annotated[config_cls, tyro.conf.arg(name="")],
        ],
        args=argv,
        **defaults,
        prog=f"jrew train --algo {algo}",
        description=f"Train {algo} on every seed in one compiled program (--preset auto|gymnax-blines|brax: "
                    "published settings for the env; see jrew.presets). --host-devices N: the runs over N "
                    "CPU devices. Several processes: --distributed "
                    "[--coordinator-address HOST:PORT --num-processes N --process-id I] (jrew.distributed).",
    )


def grid_flags(config, grids: tuple[str, ...]) -> dict[str, list[float]]:
    """``--grid name=v1,v2 ...`` as ``jrew.plan.expand``'s grid: ``{name: [v1, v2]}`` (numeric fields only)."""
    from jrew import config as config_lib

    numeric = {f.name for f in dataclasses.fields(config) if config_lib.is_numeric(f)}
    grid = {}
    for text in grids:
        name, sep, values = text.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or not values.strip():
            raise ValueError(f"--grid takes name=value1,value2,..., got {text!r}")
        if name not in numeric:
            raise ValueError(f"--grid {name!r} is not a numeric hyperparameter of {type(config).__name__}; "
                             f"gridable: {', '.join(sorted(numeric))}")
        try:
            grid[name] = [float(v) for v in values.split(",")]
        except ValueError:
            raise ValueError(f"--grid {name}: values must be numbers, got {values!r}") from None
    return grid


def resume_command(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="jrew resume",
        description="Continue a run from its latest checkpoint. --total-steps N extends it (a finished run too) to N "
                    "env steps per seed, when the learner does not depend on its budget: the extended run is then "
                    "the run trained for N from the start. PPO's default anneal_lr=True decays the learning rate "
                    "to 0 over the planned budget, so such runs are refused (train them with --no-anneal-lr to "
                    "extend them later).")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--until-update", type=int, default=None, help="pause after this many updates")
    parser.add_argument("--total-steps", type=int, default=None,
                        help="extend the run to this many env steps per seed (refused, with the reason, when the "
                             "learner depends on it, e.g. PPO with anneal_lr=True)")
    parser.add_argument("--tensorboard", action="store_true", help="also write TensorBoard event files")
    parser.add_argument("--wandb-project", default=None, help="also log to this W&B project")
    parser.add_argument("--wandb-mode", default="offline", choices=("offline", "online", "disabled"))
    add_distributed_flags(parser)
    args = parser.parse_args(argv)
    start_distributed(args)
    from jrew import run_dir as files
    from jrew import runner

    config = files.read_config(args.run_dir).config
    if args.total_steps is not None:
        from jrew import extend

        ext = extend.extend(args.run_dir, args.total_steps)
        if ext.new_updates != ext.old_updates:
            print(f"extended {args.run_dir}: {ext.old_total_steps:,} -> {ext.new_total_steps:,} env steps per seed "
                  f"({ext.old_updates} -> {ext.new_updates} updates)")
    callbacks = sinks(args.run_dir, args.tensorboard, args.wandb_project, args.wandb_mode, config)
    result = _interruptible(args.run_dir, runner.resume, args.run_dir, until_update=args.until_update,
                            callbacks=callbacks)
    if result.updates_run == 0:
        if result.last_update >= result.num_updates:
            more = ("it anneals its learning rate to 0 (anneal_lr=True), so more env steps need a new run"
                    if config.get("anneal_lr") else f"more env steps: `jrew resume {args.run_dir} --total-steps N`")
            print(f"{args.run_dir} is already finished (at update {result.last_update} of {result.num_updates}); "
                  f"nothing to train; {more}.")
        else:
            print(f"{args.run_dir} is already at update {result.last_update} of {result.num_updates}; nothing to "
                  "train up to --until-update.")
    _report(result, args.run_dir)


def plot_command(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="jrew plot",
        description="Plot a metric vs env steps (mean over seeds, 95% bootstrap CI band), as PNG with PDF and SVG "
                    "beside it. One run: each variant's true return, its visible (env) return dashed beside it "
                    "(a gap is reward hacking). Several runs (or a folder of runs): one figure, a line per run "
                    "directory and variant. A `jrew bench` output folder: one figure per task, a line per variant. "
                    "E.g. jrew plot runs/ppo runs/pbrs runs/rnd --out sparse.png;  jrew plot runs/bench-smoke")
    parser.add_argument("run_dirs", type=Path, nargs="+", metavar="RUN_DIR",
                        help="run directories, a folder holding run directories, or a jrew bench output folder")
    parser.add_argument("--metric", default=None,
                        help="the metric to plot (default true_return; a bench folder: eval/true_return when every "
                             "run evaluated)")
    parser.add_argument("--out", type=Path, default=None,
                        help="output PNG (one run: <run_dir>/<metric>.png; several: <metric>_<first>_vs_<last>.png "
                             "beside the first; a bench folder: the folder the per-task figures go to)")
    parser.add_argument("--no-visible", action="store_true",
                        help="one run: do not overlay the visible (env) return on the true return")
    args = parser.parse_args(argv)
    from jrew import plotting
    from jrew import run_dir as files

    dirs, title = args.run_dirs, None
    if len(dirs) == 1 and not files.has_run(dirs[0]):
        folder = dirs[0]
        if plotting.is_bench_folder(folder):
            for path in plotting.plot_bench(folder, args.metric, args.out):
                print(path)
            return
        dirs = sorted(d for d in folder.iterdir() if d.is_dir() and files.has_run(d)) if folder.is_dir() else []
        if not dirs:
            raise FileNotFoundError(f"no run in {folder}: give run directories (config.json and metrics/), a folder "
                                    "holding them, or a `jrew bench` output folder")
        title = f"{folder.name}: {len(dirs)} runs"
        args.out = args.out or folder / f"{(args.metric or 'true_return').replace('/', '_')}.png"
    metric = args.metric or "true_return"
    if len(dirs) == 1:
        print(plotting.plot_run(dirs[0], metric, args.out, visible=not args.no_visible))
    else:
        print(plotting.plot_runs(dirs, metric, args.out, title))


def render_command(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="jrew render",
        description="Save one episode as an animated GIF (and optionally PNG frames), or for Brax envs an HTML viewer.",
    )
    parser.add_argument("run_dir", type=Path, nargs="?",
                        help="a trained run (or a policy folder from `jrew export`): play its policy")
    parser.add_argument("--run", type=int, default=0, help="which run of run_dir (its order in the metrics: variant-major)")
    parser.add_argument("--env", default=None, help="no run_dir: play random actions in this env")
    parser.add_argument("--env-kwargs", nargs="*", default=[], help="key=value pairs for --env, e.g. size=8")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-steps", type=int, default=1000)
    parser.add_argument("--deterministic", action="store_true", help="act with the policy's mode, not samples")
    parser.add_argument("--fps", type=float, default=8.0)
    parser.add_argument("--out", type=Path, default=None,
                        help="output path (default <run_dir>/episode.gif, or episode.html for Brax envs)")
    parser.add_argument("--frames", type=Path, default=None, help="also write PNG frames into this folder")
    args = parser.parse_args(_normalize_env_kwargs(argv))
    if (args.run_dir is None) == (args.env is None):
        parser.error("give either a run directory or --env")
    import jax

    import envs
    from envs import render

    if args.run_dir is not None:
        from jrew import policy as policy_lib

        exported = (args.run_dir / policy_lib.SPEC_FILE).exists()
        policy = policy_lib.load_policy(args.run_dir) if exported else policy_lib.from_run(args.run_dir, args.run)
        env = policy.make_env()
        act = lambda obs, key: policy.act(obs, key, args.deterministic)
        base = args.run_dir / "episode"
    else:
        pairs = list(zip(args.env_kwargs[::2], args.env_kwargs[1::2]))
        env = envs.make(args.env, **envs.parse_kwargs(pairs))
        act = render.random_actions(env)
        base = Path("runs") / f"{args.env.replace('/', '_')}-random"
    states = render.record_episode(env, act, jax.random.PRNGKey(args.seed), args.max_steps)
    print(f"episode: {len(states) - 1} steps, visible return {sum(float(s.reward) for s in states[1:]):.3f}, "
          f"true return {sum(float(s.info['true_reward']) for s in states[1:]):.3f}")
    if not render.has_frames(env):
        print(f"html: {render.save_html(env, states, args.out or base.with_suffix('.html'))}")
        return
    images = render.frames(env, states)
    print(f"gif: {render.save_gif(images, args.out or base.with_suffix('.gif'), args.fps)}")
    if args.frames is not None:
        print(f"frames: {len(render.save_pngs(images, args.frames))} PNGs in {args.frames}")


def export_command(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="jrew export",
        description="Write one run's inference policy (params, observation statistics, network description; no "
                    "optimizer, value network or reward pipeline) for jrew.load_policy.")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--run", type=int, default=0, help="which run of run_dir (its order in the metrics: variant-major)")
    parser.add_argument("--out", type=Path, default=None, help="folder (default <run_dir>/policy-run<run>)")
    parser.add_argument("--episodes", type=int, default=16, help="evaluate the exported policy on this many episodes")
    args = parser.parse_args(argv)
    from jrew import policy as policy_lib

    out = policy_lib.export(args.run_dir, args.run, args.out)
    policy = policy_lib.load_policy(out)
    source = policy.spec["source"]
    print(f"policy of run {source['run']} (seed {source['seed']}, update {source['update']}) of {args.run_dir}: {out}")
    if args.episodes > 0:
        scores = policy.evaluate(args.episodes)
        print(f"loaded back: true return {scores['eval/true_return']:.2f}, visible return {scores['eval/return']:.2f} "
              f"(mean of {args.episodes} deterministic episodes)")


def demos_command(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="jrew demos", description="Record episodes of a trained run's policy as demonstrations (for GAIL).")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--episodes", type=int, default=10, help="how many episodes to record")
    parser.add_argument("--run", type=int, default=0, help="which run of run_dir (its order in the metrics: variant-major)")
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
    parser.add_argument("--report-only", action="store_true",
                        help="train nothing: (re)write report.md, the tables and the figures from --out's runs, or "
                             "from its curves.parquet where the runs are gone (e.g. a published results folder)")
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
    if args.report_only:
        print(f"report: {bench.write_report(suite, out, reps=args.reps)}")
        return
    try:
        bench.run_suite(suite, out, until_update=args.until_update)
    except KeyboardInterrupt:  # each group's run keeps its checkpoints: a rerun continues them
        print(f"jrew bench: stopped; rerun the same command to continue: jrew bench {args.suite} --out {out}",
              file=sys.stderr)
        raise SystemExit(130) from None
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
    "demos": demos_command, "export": export_command, "bench": bench_command, "envs": envs_command,
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
    except Interrupted as stop:  # Ctrl-C in a run: one line, not a traceback
        print(f"jrew {argv[0]}: {stopped_message(stop.run_dir)}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print(f"jrew {argv[0]}: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())

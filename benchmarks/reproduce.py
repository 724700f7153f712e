"""Reproduction: jrew PPO at published settings, next to the published return (and Brax's trainer).

    python -m benchmarks.reproduce [--only classic minatar brax] [--seeds 4]
                                   [--minatar-steps 10000000] [--runs-dir runs/reproduce]
                                   [--ant-steps 5000000] [--ant-envs 256]
                                   [--set kernel_init=lecun_normal bias_init_scale=0.05]

* gymnax classic control and MinAtar: the gymnax-blines ``agents/<env>/ppo.yaml`` configs
  (``jrew.presets.GYMNAX_BLINES``), scored like gymnax-blines scores its checkpoints: the mean
  return of sampled-action episodes (164 there; ``--eval-episodes`` here) with the final policy;
  the published figure is the return gymnax's README lists for that checkpoint.
* Brax: the training notebook's ``ppo.train`` settings (``jrew.presets.BRAX``, reward x10 as
  ``scale(10)``) for inverted_pendulum and, at a budget this machine affords, ant; Brax's own
  PPO trainer runs at the same settings and budget in this script, one call per seed, scored by
  its own ``eval/episode_reward`` (128 stochastic episodes) at the end.

Per env: jrew's mean and 95% bootstrap CI over seeds (rliable's stratified bootstrap), the
reference, their ratio, steps/s and compile time. Results: benchmarks/results/reproduce.{json,csv,png}.
``--set FIELD=VALUE`` changes a field of every jrew config after its preset (an ablation, named in
each row's variant; Brax's trainer is not changed).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

import jrew
from benchmarks.common import machine, write_results
from jrew import presets, stats
from jrew import run_dir as files
from jrew.algos import ppo
from jrew.evaluation import Evaluation

CLASSIC = ("gymnax/CartPole-v1", "gymnax/Acrobot-v1", "gymnax/Pendulum-v1")
MINATAR = tuple(f"gymnax/{g}-MinAtar" for g in ("Breakout", "Asterix", "Freeway", "SpaceInvaders"))
BRAX = ("brax/inverted_pendulum", "brax/ant")
BLINES_SOURCE = "gymnax README checkpoint return (gymnax-blines ppo.yaml)"


def parse_settings(pairs: list[str]) -> dict:
    """``["kernel_init=lecun_normal", "bias_init_scale=0.05"]`` as PPOConfig field values of their fields' types."""
    defaults, settings = ppo.PPOConfig(), {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not hasattr(defaults, name):
            raise SystemExit(f"--set expects FIELD=VALUE with a PPOConfig field, got {pair!r}")
        kind = type(getattr(defaults, name))
        if kind not in (str, int, float, bool):
            raise SystemExit(f"--set {name}: only str, int, float and bool fields can be set, {name} is {kind.__name__}")
        settings[name] = text.lower() in ("1", "true", "yes") if kind is bool else kind(text)
    return settings


def mean_ci(values: np.ndarray, reps: int = 2000) -> tuple[float, float, float]:
    """Mean and its 95% stratified-bootstrap interval over seeds."""
    return stats.interval_estimates({"x": np.asarray(values, np.float64)[:, None]}, reps=reps)["x"]["mean"]


def train_jrew(env: str, preset: str, seeds: int, total_steps: int | None, episodes: int,
               reward: str | None = None, env_kwargs=(), overrides: dict | None = None,
               run_dir: Path | None = None) -> dict:
    """jrew at a preset (its config and its reward pipeline, unless ``reward`` is given); with
    ``run_dir`` checkpointed, and resumed when it already holds the run."""
    config, preset_reward = presets.preset(preset, ppo.PPOConfig(env=env))
    config, reward = config.replace(**(overrides or {})), reward if reward is not None else preset_reward
    if total_steps is not None:
        config = config.replace(total_steps=int(total_steps))
    if env_kwargs:
        config = config.replace(env_kwargs=tuple(env_kwargs))
    evaluation = Evaluation(every=config.num_updates, episodes=episodes, deterministic=False)
    t0 = time.perf_counter()
    if run_dir is not None and files.has_run(run_dir):
        print(f"resuming {run_dir}", flush=True)
        result = jrew.resume(run_dir)
    else:
        result = jrew.train(config, seeds=seeds, run_dir=run_dir, reward=reward, evaluation=evaluation)
    scores = result.final("eval/true_return")
    mean, low, high = mean_ci(scores)
    return {
        "jrew_mean": mean, "jrew_ci_low": low, "jrew_ci_high": high, "jrew_seeds": scores.round(2).tolist(),
        "env_steps": int(result.env_steps[-1]), "jrew_steps_per_second": result.steps_per_second,
        "jrew_compile_seconds": result.compile_seconds, "jrew_wall_seconds": time.perf_counter() - t0,
    }


def train_brax(env: str, seeds: int, total_steps: int, backend: str, overrides: dict | None = None) -> dict:
    """Brax's own PPO trainer at the notebook's settings (those jrew's brax preset mirrors), with
    jrew's ``overrides`` of the preset applied to it the same way."""
    from brax.training.agents.ppo import networks as brax_networks
    from brax.training.agents.ppo import train as brax_train

    from envs.brax_adapter import import_brax_envs

    p = {**presets.BRAX[env], **(overrides or {})}
    name = env.removeprefix("brax/")
    brax_env = import_brax_envs().get_environment(name, backend=backend)
    batch_size = p["num_envs"] * p["num_steps"] // (5 * p["num_minibatches"])  # unrolls of 5 per minibatch
    network_factory = lambda *a, **k: brax_networks.make_ppo_networks(
        *a, policy_hidden_layer_sizes=p["policy_hidden_sizes"], value_hidden_layer_sizes=p["value_hidden_sizes"], **k)
    finals, seconds = [], []
    for seed in range(seeds):
        t0, last = time.perf_counter(), {}
        brax_train.train(
            environment=brax_env, num_timesteps=total_steps, num_evals=2, reward_scaling=presets.REWARD_SCALING[env],
            episode_length=p["episode_length"], normalize_observations=True, action_repeat=1, unroll_length=5,
            num_minibatches=p["num_minibatches"], num_updates_per_batch=p["num_epochs"], discounting=p["gamma"],
            learning_rate=p["learning_rate"], entropy_cost=p["ent_coef"], num_envs=p["num_envs"],
            batch_size=batch_size, seed=seed, network_factory=network_factory,
            progress_fn=lambda step, metrics, last=last: last.update(metrics),
        )
        finals.append(float(last["eval/episode_reward"]))
        seconds.append(time.perf_counter() - t0)
    mean, low, high = mean_ci(np.array(finals))
    return {"reference": mean, "reference_ci_low": low, "reference_ci_high": high,
            "reference_seeds": np.round(finals, 2).tolist(), "brax_seconds_per_seed": float(np.mean(seconds))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", choices=("classic", "minatar", "brax"), default=("classic", "minatar", "brax"))
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--eval-episodes", type=int, default=64)
    parser.add_argument("--minatar-steps", type=int, default=10_000_000, help="gymnax-blines: 10M")
    parser.add_argument("--minatar-games", nargs="+", default=list(MINATAR))
    parser.add_argument("--pendulum-steps", type=int, default=None, help="Brax notebook: 2M")
    parser.add_argument("--ant-steps", type=int, default=5_000_000, help="Brax notebook: 50M")
    parser.add_argument("--brax-envs", nargs="+", choices=BRAX, default=list(BRAX))
    parser.add_argument("--ant-envs", type=int, default=None,
                        help="parallel envs for ant, both trainers (notebook: 4096); minibatches keep their count")
    parser.add_argument("--brax-backend", default="positional", help="the notebook's default backend")
    parser.add_argument("--name", default="reproduce", help="results/<name>.{json,csv}")
    parser.add_argument("--runs-dir", type=Path, default=None,
                        help="checkpoint MinAtar runs here (runs/<name>/<game>); a rerun resumes them")
    parser.add_argument("--set", nargs="+", default=[], metavar="FIELD=VALUE",
                        help="change jrew's config after the preset, e.g. kernel_init=lecun_normal (an ablation)")
    args = parser.parse_args()
    settings = parse_settings(args.set)
    label = "".join(f", {k} {v}" for k, v in settings.items())

    rows = []

    def report(row):
        rows.append(row)
        ratio = row["jrew_mean"] / row["reference"] if row["reference"] else float("nan")
        print(f"{row['env']:30s} {row['variant']:28s} {row['env_steps']:>11,} steps  jrew {row['jrew_mean']:8.1f} "
              f"[{row['jrew_ci_low']:.1f}, {row['jrew_ci_high']:.1f}]  reference {row['reference']:8.1f} "
              f"({row['source']})  ratio {ratio:.2f}", flush=True)
        write_results(args.name, rows, {**machine(), "seeds": args.seeds, "eval_episodes": args.eval_episodes})

    if "classic" in args.only:
        for env in CLASSIC:
            if env in presets.PUBLISHED_AS_IS:  # the published config exactly, then with jrew's addition
                as_is = presets.PUBLISHED_AS_IS[env]
                out = train_jrew(env, "gymnax-blines", args.seeds, None, args.eval_episodes, overrides={**as_is, **settings})
                report({"env": env, "variant": "published config as is" + label, "source": BLINES_SOURCE,
                        "reference": presets.GYMNAX_BLINES_RETURNS[env], **out})
            variant = "preset (+ " + ", ".join(presets.PUBLISHED_AS_IS[env]) + ")" if env in presets.PUBLISHED_AS_IS \
                else "published config"
            out = train_jrew(env, "gymnax-blines", args.seeds, None, args.eval_episodes, overrides=settings)
            report({"env": env, "variant": variant + label, "source": BLINES_SOURCE,
                    "reference": presets.GYMNAX_BLINES_RETURNS[env], **out})
    if "minatar" in args.only:
        for env in args.minatar_games:
            name = env.removeprefix("gymnax/") + "".join(f"-{k}-{v}" for k, v in settings.items())
            run_dir = None if args.runs_dir is None else args.runs_dir / name
            out = train_jrew(env, "gymnax-blines", args.seeds, args.minatar_steps, args.eval_episodes, run_dir=run_dir,
                             overrides=settings)
            report({"env": env, "variant": "published config" + label, "source": BLINES_SOURCE + ("" if args.minatar_steps == 10_000_000 else
                    f"; published at 10M steps, jrew at {args.minatar_steps:,}"),
                    "reference": presets.GYMNAX_BLINES_RETURNS[env], **out})
    if "brax" in args.only:
        budgets = {"brax/inverted_pendulum": args.pendulum_steps or presets.BRAX["brax/inverted_pendulum"]["total_steps"],
                   "brax/ant": args.ant_steps}
        for env in args.brax_envs:
            steps = budgets[env]
            backend = (("backend", args.brax_backend),)
            overrides = {"num_envs": args.ant_envs} if env == "brax/ant" and args.ant_envs else {}
            out = train_jrew(env, "brax", args.seeds, steps, 128, None, backend,
                             overrides={**overrides, **settings})
            brax = train_brax(env, args.seeds, out["env_steps"], args.brax_backend, overrides)
            variant = "Brax notebook settings" + "".join(f", {k} {v}" for k, v in overrides.items()) + label
            report({"env": f"{env} ({args.brax_backend})", "variant": variant,
                    "source": "Brax's PPO trainer, same settings and budget",
                    **out, **brax})


if __name__ == "__main__":
    main()

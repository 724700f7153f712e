"""Training throughput of jrew PPO vs Brax's own PPO trainer vs raw env stepping, in one run.

    python benchmarks/throughput.py [--env inverted_pendulum] [--backend positional] [--num-envs 256]

Each rate is the median over ``--repeats`` steady-state epochs (Brax) or chunks (jrew) of
``--updates`` updates. Both trainers get the same Brax env and backend, num_envs, unroll length, minibatches, epochs,
network sizes and activation, tanh-Gaussian policy and observation normalization; one unroll
per update on both (Brax: batch_size * num_minibatches == num_envs). Steps/s exclude compile
time, reported separately. The raw env-step rate (random actions in a ``lax.scan``) is the
ceiling. ``--breakdown`` also times the parts of one jrew PPO update (its rollout, the env steps
alone, the critic pass over the rollout, the epochs of minibatch steps, and those steps with the
network math alone) as separate jitted calls: where an update's time goes, and how much of it
is not the env or the network math. Results: benchmarks/results/throughput.{json,csv,png}.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import time

import jax
import jax.numpy as jnp
import numpy as np

import envs
import jrew
from benchmarks.common import bar_plot, load_results, machine, raw_steps_per_second, time_jitted, write_results
from jrew.algos import ppo


def raw_env_steps_per_second(env_name: str, backend: str, num_envs: int, num_steps: int, repeats: int = 5) -> float:
    return raw_steps_per_second(envs.make(f"brax/{env_name}", backend=backend), num_envs, num_steps, repeats)[0]


def brax_ppo(args) -> dict:
    from brax.training.agents.ppo import networks as brax_networks
    from brax.training.agents.ppo import train as brax_train

    from envs.brax_adapter import import_brax_envs

    env = import_brax_envs().get_environment(args.env, backend=args.backend)
    batch_size = args.num_envs // args.num_minibatches
    steps_per_update = args.num_envs * args.unroll_length
    # Brax's trainer compiles its training epoch on the first call and again on the second (the
    # state's weak types change); epochs 3+ are steady state: the median of those is reported.
    epochs_of_training = 2 + args.repeats
    records = []

    def progress(step, metrics):
        records.append((time.perf_counter(), metrics))

    network_factory = functools.partial(
        brax_networks.make_ppo_networks,
        policy_hidden_layer_sizes=args.policy_hidden,
        value_hidden_layer_sizes=args.value_hidden,
    )
    brax_train.train(
        environment=env,
        num_timesteps=epochs_of_training * args.updates * steps_per_update,
        num_evals=epochs_of_training + 1,
        episode_length=1000,
        num_envs=args.num_envs,
        unroll_length=args.unroll_length,
        batch_size=batch_size,
        num_minibatches=args.num_minibatches,
        num_updates_per_batch=args.num_epochs,
        normalize_observations=True,
        learning_rate=3e-4,
        entropy_cost=1e-2,
        discounting=0.97,
        max_grad_norm=0.5,
        network_factory=network_factory,
        num_eval_envs=16,
        seed=0,
        progress_fn=progress,
    )
    walltimes = [m["training/walltime"] for _, m in records if "training/walltime" in m]
    epoch_seconds = [walltimes[0], *(b - a for a, b in itertools.pairwise(walltimes))]
    steady = float(np.median(epoch_seconds[2:]))
    return {
        "steps_per_second": args.updates * steps_per_update / steady,
        "compile_seconds": float(sum(t - steady for t in epoch_seconds[:2])),  # both compiles
    }


def jrew_config(args) -> ppo.PPOConfig:
    return ppo.PPOConfig(
        env=f"brax/{args.env}",
        env_kwargs=(("backend", args.backend),),
        total_steps=args.repeats * args.updates * args.num_envs * args.unroll_length,
        num_envs=args.num_envs,
        num_steps=args.unroll_length,
        num_epochs=args.num_epochs,
        num_minibatches=args.num_minibatches,
        policy_hidden_sizes=args.policy_hidden,
        value_hidden_sizes=args.value_hidden,
        activation="swish",
        distribution="tanh_normal",
        normalize_observations=True,
        learning_rate=3e-4,
        gamma=0.97,
        ent_coef=1e-2,
    )


def jrew_ppo(args, seeds: int) -> dict:
    config = jrew_config(args)
    result = jrew.train(config, seeds=seeds, chunk_updates=args.updates, progress=False)
    steps_per_chunk = seeds * args.updates * config.batch_size
    return {
        "steps_per_second": steps_per_chunk / float(np.median(result.chunk_seconds)),
        "compile_seconds": result.compile_seconds,
    }


def median_ms(fn, *inputs, repeats: int = 10) -> float:
    """Median wall time of a jitted ``fn(*inputs)`` after its compile, in milliseconds."""
    return 1e3 * time_jitted(fn, [inputs] * (repeats + 1))[1]


def update_breakdown(args) -> dict[str, float]:
    """Milliseconds per jrew PPO update and for its parts, each timed as its own jitted call: the
    rollout (policy and env), the env steps alone (random actions), and the critic's pass over
    the rollout. The epochs and the rest are the update's remainder."""
    from jrew.algos import base, collect
    from jrew.rollout import random_policy, rollout

    trainer = ppo.make(jrew_config(args))
    learner = trainer.update.__self__  # the PPO whose bound method the trainer holds
    state = trainer.init(jax.random.PRNGKey(0), None, None)
    steps = args.unroll_length

    def rollout_with(policy):
        def run(s, k):
            traj = rollout(learner.env, policy(s), s.env_state, k, steps)[1]
            return traj.next_obs.sum() + traj.log_prob.sum()  # depend on the dynamics, or XLA drops them
        return run

    policy = lambda s: base.sampling_policy(learner.dist, lambda obs: learner.policy_head(s, obs))
    env_state, traj = jax.jit(lambda s, k: rollout(learner.env, policy(s), s.env_state, k, steps))(
        state, jax.random.PRNGKey(1))
    value_fn = lambda s: lambda obs: learner.value(s.params, s.obs_stats, s.value_stats, obs)
    bound = collect.max_truncations(learner.env, steps)
    parts = {
        "update": median_ms(lambda s: trainer.update(s)[0].params, state),
        "rollout": median_ms(rollout_with(policy), state, jax.random.PRNGKey(2)),
        "env steps alone": median_ms(rollout_with(lambda s: random_policy(learner.env.action_space)), state,
                                     jax.random.PRNGKey(2)),
        "critic pass": median_ms(lambda s, t, o: collect.critic_values(value_fn(s), t, o, bound), state, traj,
                                  env_state.obs),
    }
    parts.update(epochs_breakdown(learner, state, traj))
    parts["the rest"] = parts["update"] - parts["rollout"] - parts["critic pass"] - parts["epochs"]
    return parts


def epochs_breakdown(learner, state, traj) -> dict[str, float]:
    """Milliseconds for one update's epochs of minibatch steps on a rollout's data, and for the
    same steps with the network math alone: the same networks forward and backward on the same
    minibatches, the same Adam, but a loss that is just the sum of the outputs (no normalization,
    distribution, clipping or metrics). Their difference is all the epochs could save."""
    from einops import rearrange

    from jrew.algos.sgd import epochs_of_minibatches

    config, cfg = learner.config, state.config
    flat_obs, flat_action, flat_log_prob = (rearrange(x, "t b ... -> (t b) ...")
                                            for x in (traj.obs, traj.action, traj.log_prob))
    zeros = jnp.zeros_like(flat_log_prob)
    data = (flat_obs, flat_action, flat_log_prob, zeros, jax.random.normal(jax.random.PRNGKey(3), zeros.shape), zeros)

    def sum_of_outputs(params, batch, key):
        head, value = learner.network.apply(params, batch[0])
        return head.sum() + value.sum(), {}

    def run_epochs(loss):
        return lambda s, d: epochs_of_minibatches(loss, learner.optimizer(cfg), s.params, s.opt_state, d,
                                                  jax.random.PRNGKey(4), config.num_epochs, config.num_minibatches)[0]

    return {
        "epochs": median_ms(run_epochs(lambda p, b, k: learner.loss(p, state.obs_stats, cfg, b, k)), state, data),
        "network math alone": median_ms(run_epochs(sum_of_outputs), state, data),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="inverted_pendulum")
    parser.add_argument("--backend", default="positional")
    parser.add_argument("--num-envs", type=int, default=256)
    parser.add_argument("--unroll-length", type=int, default=20)
    parser.add_argument("--num-minibatches", type=int, default=4)
    parser.add_argument("--num-epochs", type=int, default=4)
    parser.add_argument("--updates", type=int, default=10, help="updates per measured chunk/epoch")
    parser.add_argument("--repeats", type=int, default=5, help="steady-state epochs/chunks timed; the median counts")
    parser.add_argument("--seeds", type=int, default=8, help="seeds for the many-seeds row")
    parser.add_argument("--policy-hidden", type=int, nargs="+", default=[32] * 4)
    parser.add_argument("--value-hidden", type=int, nargs="+", default=[256] * 5)
    parser.add_argument("--breakdown", action="store_true", help="also time the parts of one jrew update")
    parser.add_argument("--name", default="throughput", help="results/<name>.{json,csv,png}")
    parser.add_argument("--replot", action="store_true",
                        help="measure nothing: redraw results/<name>.png from results/<name>.json")
    args = parser.parse_args()
    if args.replot:
        rows, meta = load_results(args.name)
        print(f"figure: {plot(rows, {**meta, 'name': args.name})}")
        return
    args.policy_hidden, args.value_hidden = tuple(args.policy_hidden), tuple(args.value_hidden)

    raw = raw_env_steps_per_second(args.env, args.backend, args.num_envs, args.unroll_length * args.updates)
    print(f"raw env stepping: {raw:,.0f} steps/s")
    brax = brax_ppo(args)
    print(f"Brax PPO:         {brax['steps_per_second']:,.0f} steps/s (compile ~{brax['compile_seconds']:.1f}s)")
    one = jrew_ppo(args, seeds=1)
    print(f"jrew PPO:         {one['steps_per_second']:,.0f} steps/s (compile {one['compile_seconds']:.1f}s)")
    many = jrew_ppo(args, seeds=args.seeds)
    print(f"jrew PPO x{args.seeds} seeds: {many['steps_per_second']:,.0f} steps/s (compile {many['compile_seconds']:.1f}s)")

    rows = [
        {"run": "raw env steps (random actions)", "steps_per_second": raw, "compile_seconds": None,
         "ratio_to_brax_ppo": raw / brax["steps_per_second"]},
        {"run": "Brax PPO (1 seed)", **brax, "ratio_to_brax_ppo": 1.0},
        {"run": "jrew PPO (1 seed)", **one, "ratio_to_brax_ppo": one["steps_per_second"] / brax["steps_per_second"]},
        {"run": f"jrew PPO ({args.seeds} seeds, one program)", **many,
         "ratio_to_brax_ppo": many["steps_per_second"] / brax["steps_per_second"]},
    ]
    meta = {**machine(), **{k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(args).items() if k != "replot"}}
    if args.breakdown:
        parts = update_breakdown(args)
        meta["update_breakdown_ms"] = parts
        print("one jrew update: " + ", ".join(f"{name} {ms:.1f} ms ({ms / parts['update']:.0%})"
                                                for name, ms in parts.items()))
    json_path, _ = write_results(args.name, rows, meta)
    figure = plot(rows, meta)
    print(f"\njrew / Brax PPO = {rows[2]['ratio_to_brax_ppo']:.2f}   "
          f"jrew / raw env = {one['steps_per_second'] / raw:.2f}   "
          f"jrew x{args.seeds} / Brax = {rows[3]['ratio_to_brax_ppo']:.2f}")
    print(f"results: {json_path}, {figure}")


def plot(rows: list[dict], meta: dict):
    return bar_plot(
        meta["name"], ["raw env", "Brax PPO", "jrew PPO", f"jrew x{meta['seeds']} seeds"],
        [r["steps_per_second"] for r in rows], "env steps / s",
        f"brax/{meta['env']} ({meta['backend']}), {meta['num_envs']} envs, {meta['platform']}",
    )


if __name__ == "__main__":
    main()

"""Tokens per second in the sequence lab, in one run: the task envs alone (random tokens), sampling
completions with a token policy, and whole GRPO updates (sampling, reference log-probs and one
epoch of the loss).

    python -m benchmarks.seq_throughput [--tasks addition sort chain] [--repeats 5]

Each rate is the median of ``--repeats`` timed calls after the compile, which is reported
separately. The policies are the lab's default sizes (width 64, 2 blocks or layers). A token
network recomputes the whole buffer at each step (no KV cache): the cost per step grows with the
buffer's length, which in the lab is 9 to 12 tokens. Results:
benchmarks/results/seq_throughput.{json,csv,png}.
"""

from __future__ import annotations

import argparse

import jax
import numpy as np

import envs
from benchmarks.common import bar_plot, load_results, machine, raw_steps_per_second, time_jitted, write_results
from jrew.algos import base, pg
from jrew.rollout import rollout

TASKS = {"addition": (("digits", "2"),), "sort": (("length", "4"),), "chain": (("steps", "3"), ("base", "5"))}


def policy_rates(task: str, network: str, repeats: int, groups: int = 8, group_size: int = 8) -> dict:
    """Tokens/s of sampling ``groups x group_size`` completions and of whole GRPO updates, and each compile."""
    env = envs.make(f"seq/{task}", **envs.parse_kwargs(TASKS[task]))
    length = env.episode_limit
    config = pg.PGConfig(env=f"seq/{task}", env_kwargs=TASKS[task], network=network, num_steps=length,
                         num_groups=groups, group_size=group_size, num_minibatches=1, num_epochs=1,
                         total_steps=length * groups * group_size)
    trainer = pg.make(config)
    state = jax.jit(trainer.init)(jax.random.PRNGKey(0))
    dist = base.distributions.for_action_space(env.action_space)
    net = base.token_actor_critic(config, dist)
    sampler = base.sampling_policy(dist, lambda obs: net.apply(state.params, obs, method="policy"))

    def sample(key):
        start = pg.reset_groups(env, key, groups, group_size)
        return rollout(env, sampler, start, key, length)[1].log_prob.sum()

    keys = [(jax.random.PRNGKey(i),) for i in range(repeats + 1)]
    sample_compile, sample_seconds = time_jitted(sample, keys)
    # the new params are the output: with only a metric, XLA would drop the backward pass and the step
    update_compile, update_seconds = time_jitted(lambda s: trainer.update(s)[0].params, [(state,)] * (repeats + 1))
    tokens = length * groups * group_size
    return {"sample_tokens_per_second": tokens / sample_seconds, "sample_compile_seconds": sample_compile,
            "update_tokens_per_second": tokens / update_seconds, "update_compile_seconds": update_compile,
            "ms_per_token_step": 1e3 * sample_seconds / length}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", choices=list(TASKS), default=list(TASKS))
    parser.add_argument("--networks", nargs="+", choices=["transformer", "gru"], default=["transformer", "gru"])
    parser.add_argument("--num-envs", type=int, default=1024, help="envs for the raw env rate")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--replot", action="store_true", help="measure nothing: redraw the figure from the results")
    args = parser.parse_args()
    if args.replot:
        print(f"figure: {plot(*load_results('seq_throughput'))}")
        return

    rows = []
    for task in args.tasks:
        env = envs.make(f"seq/{task}", **envs.parse_kwargs(TASKS[task]))
        env_rate, env_compile = raw_steps_per_second(env, args.num_envs, 10 * env.episode_limit, args.repeats)
        for network in args.networks:
            row = {"task": f"seq/{task}", "network": network, "completion_tokens": env.episode_limit,
                   "env_tokens_per_second": env_rate, "env_compile_seconds": env_compile,
                   **policy_rates(task, network, args.repeats)}
            rows.append(row)
            print(f"{task:9s} {network:11s} env {env_rate:>12,.0f} tok/s   sampling {row['sample_tokens_per_second']:>9,.0f}"
                  f" tok/s ({row['ms_per_token_step']:.2f} ms/step)   GRPO update {row['update_tokens_per_second']:>8,.0f}"
                  f" tok/s   compiles {row['sample_compile_seconds']:.1f} s / {row['update_compile_seconds']:.1f} s",
                  flush=True)
    meta = {**machine(), **{k: v for k, v in vars(args).items() if k != "replot"}}
    json_path, _ = write_results("seq_throughput", rows, meta)
    print(f"results: {json_path}, {plot(rows, meta)}")


def plot(rows: list[dict], meta: dict):
    labels = [f"{r['task'].split('/')[1]} {r['network']}" for r in rows]
    return bar_plot("seq_throughput", labels, [r["update_tokens_per_second"] for r in rows], "tokens / s",
                    f"GRPO updates (8 prompts x 8 completions), {meta['platform']}")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()

"""An ablation for the gymnax-blines reproduction: jrew PPO with the baselines' minibatch order.

    python -m benchmarks.blines_partition --env gymnax/Asterix-MinAtar --seeds 4 --runs-dir RUNS

The baselines' ``update`` never splits its key, so every update trains on the same partition of
its batch into minibatches (``blines_equivalence.blines_minibatch_indices``), where jrew draws a
new one every epoch. This trains jrew at the ``gymnax-blines`` preset with the baselines'
initialization and their fixed partition instead of jrew's, everything else unchanged, and
scores it as ``benchmarks.reproduce`` does. Results: results/<name>.{json,csv}.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from unittest import mock

import jax

from benchmarks.blines_equivalence import blines_minibatch_indices
from benchmarks.common import machine, write_results
from benchmarks.reproduce import BLINES_SOURCE, train_jrew
from jrew import presets
from jrew.algos import sgd

PARTITION_KEY = jax.random.PRNGKey(0)  # one fixed key, as their update's


def epochs_of_fixed_minibatches(loss_fn, tx, params, opt_state, data, key, num_epochs, num_minibatches):
    """``sgd.epochs_of_minibatches`` with the baselines' minibatch order, the same in every update."""
    size = jax.tree.leaves(data)[0].shape[0]
    order = blines_minibatch_indices(PARTITION_KEY, size, num_epochs, num_minibatches)
    (params, opt_state), metrics = sgd.minibatch_steps(
        loss_fn, tx, params, opt_state, jax.tree.map(lambda x: x[order], data), jax.random.split(key, len(order)))
    return params, opt_state, {k: v.mean() for k, v in metrics.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="gymnax/Asterix-MinAtar", choices=sorted(presets.GYMNAX_BLINES))
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--total-steps", type=int, default=None, help="default: the preset's")
    parser.add_argument("--eval-episodes", type=int, default=64)
    parser.add_argument("--runs-dir", type=Path, default=None, help="checkpoint the run here; a rerun resumes it")
    parser.add_argument("--name", default="reproduce_asterix_fixed_partition")
    args = parser.parse_args()
    settings = {"kernel_init": "lecun_normal", "bias_init_scale": 0.05}
    run_dir = None if args.runs_dir is None else args.runs_dir / (args.env.removeprefix("gymnax/") + "-fixed-partition")
    with mock.patch("jrew.algos.ppo.epochs_of_minibatches", epochs_of_fixed_minibatches):
        out = train_jrew(args.env, "gymnax-blines", args.seeds, args.total_steps, args.eval_episodes,
                         overrides=settings, run_dir=run_dir)
    row = {"env": args.env, "variant": "published config, the baselines' init and their fixed minibatch partition",
           "source": BLINES_SOURCE, "reference": presets.GYMNAX_BLINES_RETURNS[args.env], **out}
    print(f"{args.env}: jrew {out['jrew_mean']:.2f} [{out['jrew_ci_low']:.2f}, {out['jrew_ci_high']:.2f}]", flush=True)
    print(f"results: {write_results(args.name, [row], {**machine(), 'seeds': args.seeds, 'eval_episodes': args.eval_episodes})[0]}")


if __name__ == "__main__":
    main()

"""Quickstart: PPO on CartPole for 32 seeds in one compiled program, scored on the true return.

    python experiments/quickstart.py [--seeds 32] [--total-steps 500000] [--run-dir runs/quickstart]
                                     [--save-result experiments/results/quickstart.json]

Takes a few minutes on 2 CPU cores (most of it is the 32 x 500k = 16M env steps, not compile).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import jrew
from jrew import plotting, stats
from jrew.provenance import write_json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=32)
    parser.add_argument("--total-steps", type=int, default=500_000)
    parser.add_argument("--run-dir", type=Path, default=Path("runs") / f"quickstart-{time.strftime('%Y%m%d-%H%M%S')}")
    parser.add_argument("--save-result", type=Path, default=None,
                        help="also write the summary as JSON with its provenance (the README's example output)")
    args = parser.parse_args()

    config = jrew.PPOConfig(env="gymnax/CartPole-v1", total_steps=args.total_steps)
    print(f"PPO on {config.env}: {args.seeds} seeds x {config.num_updates * config.batch_size:,} env steps, one program")
    result = jrew.train(config, seeds=args.seeds, run_dir=args.run_dir)

    final = stats.summarize(result.final("true_return"))
    print(f"\nfinal true return over {args.seeds} seeds (max 500):")
    print(f"  mean {final['mean']:.1f}   IQM {final['iqm']:.1f}   min {final['min']:.1f}   max {final['max']:.1f}")
    print(f"compile {result.compile_seconds:.1f}s, train {result.train_seconds:.1f}s, "
          f"{result.steps_per_second:,.0f} env steps/s (all seeds)")
    print(f"learning curve: {plotting.plot_run(args.run_dir)}")
    if args.save_result:
        row = {"env": config.env, "seeds": args.seeds, "env_steps_per_seed": int(result.env_steps[-1]), **final,
               "compile_seconds": result.compile_seconds, "train_seconds": result.train_seconds,
               "steps_per_second": result.steps_per_second}
        print(f"result: {write_json(args.save_result, [row], settings=vars(args))}")
    print(f"metrics: {args.run_dir / 'metrics'} (jrew.load_metrics)   resume: jrew resume {args.run_dir}")


if __name__ == "__main__":
    main()

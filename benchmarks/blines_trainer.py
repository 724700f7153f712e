"""Runs the gymnax baselines' own PPO trainer (gymnax-blines) on today's gymnax, over seeds.

    pip install -e ".[blines]"
    git clone https://github.com/RobertTLange/gymnax-blines
    python -m benchmarks.blines_trainer --blines gymnax-blines --env Pendulum-v1 --seeds 0 1 2 3

Each return gymnax's README lists is one seed of this trainer (``train.py`` trains one
``seed_id``). Running the trainer itself at more seeds, on the gymnax jrew trains on, tells a gap
in jrew apart from the spread of seeds and from changes in the env. It runs as ``train.py`` does
(its ``agents/<env>/ppo.yaml``, learning rate 5e-4, ``PRNGKey(seed)``), with two stand-ins set up
at import time and none of its files changed:

* TensorFlow Probability's JAX substrate (0.25) no longer imports on jax 0.8; the two
  distributions the trainer uses, ``Categorical`` and ``MultivariateNormalDiag``, are replaced by
  ``Categorical`` and ``NormalDiag`` below (the same log-probability, sampling and entropy).
* gymnax >= 1.0's ``step`` returns terminations and truncations apart; the trainer receives
  ``done = terminated or truncated``, what gymnax's ``step`` returned when it was written.

evosax is imported for ES networks only and is stubbed. A seed's return is the last value of
the trainer's evaluation log (the mean of 164 sampled-action episodes), as in the published
checkpoints. Results: benchmarks/results/blines_trainer_<env>.{json,csv}, one row per seed; a later run
adds its seeds to them (replacing rows of the same seed), so seeds may run in separate processes.
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
import sys
import time
import types
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from benchmarks.common import RESULTS, machine, write_results
from benchmarks.reproduce import mean_ci
from jrew import presets

TRAIN_PY_LEARNING_RATE = 5e-4  # train.py's --lrate default, which load_config writes into the config


@struct.dataclass
class Categorical:
    logits: jax.Array

    def sample(self, seed):
        return jax.random.categorical(seed, self.logits)

    def log_prob(self, action):
        log_p = jax.nn.log_softmax(self.logits)
        return jnp.take_along_axis(log_p, action[..., None].astype(jnp.int32), axis=-1)[..., 0]

    def entropy(self):
        log_p = jax.nn.log_softmax(self.logits)
        return -(jnp.exp(log_p) * log_p).sum(-1)


@struct.dataclass
class NormalDiag:
    loc: jax.Array
    scale_diag: jax.Array

    def sample(self, seed):
        return self.loc + self.scale_diag * jax.random.normal(seed, self.loc.shape)

    def log_prob(self, x):
        z = (x - self.loc) / self.scale_diag
        return (-0.5 * z**2 - jnp.log(self.scale_diag) - 0.5 * jnp.log(2 * jnp.pi)).sum(-1)

    def entropy(self):
        return (0.5 + 0.5 * jnp.log(2 * jnp.pi) + jnp.log(self.scale_diag)).sum(-1)


def _install_stand_ins() -> None:
    tfp_jax = types.ModuleType("tensorflow_probability.substrates.jax")
    tfp_jax.distributions = types.SimpleNamespace(Categorical=Categorical, MultivariateNormalDiag=NormalDiag)
    substrates = types.ModuleType("tensorflow_probability.substrates")
    substrates.jax = tfp_jax
    tfp = types.ModuleType("tensorflow_probability")
    tfp.substrates = substrates
    evosax = types.ModuleType("evosax")
    evosax.NetworkMapper = {}
    sys.modules.update({"tensorflow_probability": tfp, "tensorflow_probability.substrates": substrates,
                        "tensorflow_probability.substrates.jax": tfp_jax, "evosax": evosax})


def _done_as_one_flag(rollout_manager_cls) -> None:
    @functools.partial(jax.jit, static_argnums=0)
    def batch_step(self, keys, state, action):
        obs, state, reward, terminated, truncated, info = jax.vmap(self.env.step, in_axes=(0, 0, 0, None))(
            keys, state, action, self.env_params)
        return obs, state, reward, jnp.logical_or(terminated, truncated), info

    rollout_manager_cls.batch_step = batch_step


def load_trainer(blines: Path):
    """``train(env, seed) -> (log_steps, log_return)`` of the gymnax-blines clone at ``blines``."""
    if not (blines / "utils" / "ppo.py").exists():
        raise SystemExit(f"{blines} is not a gymnax-blines clone (no utils/ppo.py)")
    _install_stand_ins()
    sys.path.insert(0, str(blines.resolve()))
    from utils import ppo as blines_ppo
    from utils.helpers import load_config
    from utils.models import get_model_ready

    _done_as_one_flag(blines_ppo.RolloutManager)

    def train(env: str, seed: int):
        config = load_config(str(blines / "agents" / env / "ppo.yaml"), seed, TRAIN_PY_LEARNING_RATE).train_config
        rng, rng_init = jax.random.split(jax.random.PRNGKey(config.seed_id))  # as train.py's main
        model, params = get_model_ready(rng_init, config)
        log_steps, log_return, _ = blines_ppo.train_ppo(rng, config, model, params, None)
        return log_steps, log_return

    return train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--blines", type=Path, required=True, help="a clone of RobertTLange/gymnax-blines")
    parser.add_argument("--env", required=True, help="a gymnax-blines agents/<env>, e.g. Pendulum-v1")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    parser.add_argument("--name", default=None, help="results/<name>.{json,csv} (default blines_trainer_<env>)")
    args = parser.parse_args()
    train = load_trainer(args.blines)
    name = args.name or f"blines_trainer_{args.env}"
    for seed in args.seeds:
        start = time.perf_counter()
        log_steps, log_return = train(args.env, seed)
        row = {"env": f"gymnax/{args.env}", "seed": seed, "final_return": round(float(log_return[-1]), 2),
               "env_steps": int(log_steps[-1]), "wall_seconds": round(time.perf_counter() - start, 1)}
        print(f"seed {seed}: {row['final_return']} after {row['env_steps']:,} steps", flush=True)
        json_path = record(name, row)
        record_curve(name, seed, log_steps, log_return)
    print(f"results: {json_path}")


def record(name: str, row: dict) -> Path:
    """Adds ``row`` to ``results/<name>.json`` (replacing an earlier row of its seed) and updates
    the summary, so seeds can run in separate processes, one after another or side by side."""
    path = RESULTS / f"{name}.json"
    rows = json.loads(path.read_text())["rows"] if path.exists() else []
    rows = sorted([r for r in rows if r["seed"] != row["seed"]] + [row], key=lambda r: r["seed"])
    mean, low, high = mean_ci(np.array([r["final_return"] for r in rows]))
    published = presets.GYMNAX_BLINES_RETURNS[row["env"]]
    print(f"gymnax-blines' trainer on {row['env']}: {mean:.1f} [{low:.1f}, {high:.1f}] over {len(rows)} seeds; "
          f"published {published}", flush=True)
    meta = {**machine(), "mean": mean, "ci_low": low, "ci_high": high, "published": published}
    return write_results(name, rows, meta)[0]


def record_curve(name: str, seed: int, log_steps, log_return) -> Path:
    """Adds seed ``seed``'s whole evaluation log to ``results/<name>_curves.csv`` (replacing an
    earlier one of that seed): a seed's last evaluation alone is one noisy point of its curve."""
    path = RESULTS / f"{name}_curves.csv"
    rows = [r for r in (list(csv.DictReader(path.open())) if path.exists() else []) if int(r["seed"]) != seed]
    rows += [{"seed": seed, "env_steps": int(s), "eval_return": round(float(r), 4)} for s, r in zip(log_steps, log_return)]
    rows.sort(key=lambda r: (int(r["seed"]), int(r["env_steps"])))
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["seed", "env_steps", "eval_return"])
        writer.writeheader()
        writer.writerows(rows)
    return path


if __name__ == "__main__":
    main()

"""Replays the gymnax baselines' published PPO checkpoints on the installed gymnax.

    git clone https://github.com/RobertTLange/gymnax-blines
    python -m benchmarks.published_checkpoints --blines gymnax-blines [--envs Pendulum-v1 ...]

gymnax's README lists the returns of PPO agents trained by gymnax-blines; the agents are in that
repository (``agents/<env>/ppo.pkl``), each with its training config and its evaluation log (the
mean return of ``num_test_rollouts`` sampled-action episodes every ``evaluate_every_epochs``).
This plays each network the way that log scored it, on the gymnax jrew trains on, and prints the
log's last value beside today's. Where they agree, the env still matches the one the figure was
measured on, and jrew's reproduction compares with it; where they do not, the env changed.

No gymnax-blines code runs here: its networks are two-layer ReLU MLPs (a categorical head, or a
Gaussian with ``softplus(scale) + 0.001``), applied to the saved weights. The pickles name
``dotmap.DotMap`` for their configs, read here as plain dicts.
Results: benchmarks/results/published_checkpoints.{json,csv}.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import io
import pickle
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.blines_trainer import Categorical, NormalDiag
from benchmarks.common import machine, write_results
from jrew import presets

GAMES = ("CartPole-v1", "Acrobot-v1", "Pendulum-v1", "Asterix-MinAtar", "Breakout-MinAtar", "Freeway-MinAtar",
         "SpaceInvaders-MinAtar")
MIN_STD = 0.001  # GaussianSeparateMLP's floor on the standard deviation


class _ConfigDict(dict):
    """What a pickled ``dotmap.DotMap`` becomes: its entries as a dict."""

    def __setstate__(self, state):
        self.update(state.get("_map", state))


class _Unpickler(pickle.Unpickler):
    def find_class(self, module, name):
        return _ConfigDict if module == "dotmap" else super().find_class(module, name)


def load_checkpoint(path: Path) -> dict:
    """``{"network", "train_config", "log_steps", "log_return"}`` of a gymnax-blines pickle."""
    return _Unpickler(io.BytesIO(path.read_bytes())).load()


def _dense(layer, x):
    return x @ jnp.asarray(layer["kernel"]) + jnp.asarray(layer["bias"])


def policy_sampler(params: dict, network_name: str):
    """``sample(obs, key) -> action`` of the checkpoint's actor (its critic is not needed)."""
    params = params["params"]
    if network_name == "Categorical-MLP":  # the actor's layers are flax's unnamed Dense_0, Dense_1, ...
        layers = [params[f"Dense_{i}"] for i in range(sum(k.startswith("Dense_") for k in params))]
        hidden, head = layers[:-1], layers[-1]
    elif network_name == "Gaussian-MLP":
        hidden = [params[f"actor_fc_{i}"] for i in range(1, sum(k.startswith("actor_fc_") and k[-1].isdigit()
                                                               for k in params) + 1)]
        head = None
    else:
        raise ValueError(f"unsupported network {network_name!r}: Categorical-MLP or Gaussian-MLP")

    def sample(obs, key):
        x = obs.reshape(-1).astype(jnp.float32)
        for layer in hidden:
            x = jax.nn.relu(_dense(layer, x))
        if head is not None:
            return Categorical(_dense(head, x)).sample(key)
        std = jax.nn.softplus(_dense(params["actor_fc_scale"], x)) + MIN_STD
        return NormalDiag(_dense(params["actor_fc_mu"], x), std).sample(key)

    return sample


def episode_stats(env_name: str, sample, episodes: int, key: jax.Array) -> dict[str, float]:
    """Over ``episodes`` episodes of the env's full length: the mean return, as gymnax-blines'
    ``batch_evaluate`` scores it (rewards counted until the first end of each episode), the mean
    and longest length, and the fraction that ran into the time limit (truncated)."""
    import gymnax

    env, env_params = gymnax.make(env_name)

    def episode(key):
        reset_key, key = jax.random.split(key)
        obs, state = env.reset(reset_key, env_params)

        def step(carry, _):
            obs, state, key, total, alive, length, truncations = carry
            key, act_key, step_key = jax.random.split(key, 3)
            obs, state, reward, terminated, truncated, _ = env.step(step_key, state, sample(obs, act_key), env_params)
            ends_by_time = alive * truncated * (1 - terminated)
            return (obs, state, key, total + reward * alive, alive * (1 - (terminated | truncated)), length + alive,
                    truncations + ends_by_time), None

        carry, _ = jax.lax.scan(step, (obs, state, key, 0.0, 1.0, 0.0, 0.0), None, env_params.max_steps_in_episode)
        return carry[3], carry[5], carry[6]

    returns, lengths, truncated = jax.jit(jax.vmap(episode))(jax.random.split(key, episodes))
    return {"return": float(returns.mean()), "mean_length": float(lengths.mean()), "longest": int(lengths.max()),
            "truncated": float(truncated.mean())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--blines", type=Path, required=True, help="a clone of RobertTLange/gymnax-blines")
    parser.add_argument("--envs", nargs="+", default=list(GAMES), choices=GAMES)
    parser.add_argument("--episodes", type=int, default=None, help="default: the checkpoint's num_test_rollouts")
    parser.add_argument("--name", default="published_checkpoints", help="results/<name>.{json,csv}")
    args = parser.parse_args()
    rows = []
    for game in args.envs:
        path = args.blines / "agents" / game / "ppo.pkl"
        if not path.exists():
            raise SystemExit(f"{path} not found: --blines must be a gymnax-blines clone with its agents/ pickles")
        checkpoint = load_checkpoint(path)
        config = checkpoint["train_config"]
        episodes = args.episodes or int(config["num_test_rollouts"])
        stats = episode_stats(game, policy_sampler(checkpoint["network"], config["network_name"]), episodes,
                              jax.random.PRNGKey(0))
        today = stats["return"]
        rows.append({
            "env": f"gymnax/{game}", "published": presets.GYMNAX_BLINES_RETURNS[f"gymnax/{game}"],
            "log_last": round(float(np.asarray(checkpoint["log_return"])[-1]), 2),
            "log_steps": int(checkpoint["log_steps"][-1]), "today": round(today, 2), "episodes": episodes,
            "mean_length": round(stats["mean_length"], 1), "longest": stats["longest"],
            "truncated": round(stats["truncated"], 4),
        })
        print(f"{game:24s} published {rows[-1]['published']:8.1f}   its log's last {rows[-1]['log_last']:8.1f}   "
              f"today's gymnax {today:8.1f}  ({episodes} episodes; length {stats['mean_length']:.0f} on average, "
              f"{stats['longest']} at most, {stats['truncated']:.1%} at the time limit)", flush=True)
    json_path, _ = write_results(args.name, rows, {**machine(), "gymnax": importlib.metadata.version("gymnax")})
    print(f"results: {json_path}")


if __name__ == "__main__":
    main()

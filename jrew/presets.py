"""Published PPO settings per env, as config presets: ``jrew train --preset NAME``.

    config = presets.apply("gymnax-blines", ppo.PPOConfig(env="gymnax/Pendulum-v1"))
    jrew train --env gymnax/Pendulum-v1 --preset auto      (flags after it still override)

* ``gymnax-blines``: RobertTLange/gymnax-blines ``agents/<env>/ppo.yaml`` (the configs behind the
  returns in gymnax's README): separate 2-layer ReLU MLPs, a state-dependent softplus std for
  continuous actions, a constant learning rate, no observation normalization. One addition:
  Pendulum's critic learns scaled value targets (``normalize_values``), without which its
  returns of about -1000 defeat the clipped value loss (``PUBLISHED_AS_IS`` undoes it).
* ``brax``: Brax's training notebook (google/brax ``notebooks/training.ipynb``, ``ppo.train``
  settings): 4x32 / 5x256 swish MLPs, tanh-squashed Gaussian with a softplus std, observation
  normalization, gamma 0.97, a constant learning rate, LeCun-uniform kernels in every layer (Brax's
  networks; jrew's orthogonal default reaches 1433 against 1686 on ant, README "Reproduction").
  Brax also scales rewards (x10 for
  inverted_pendulum and ant): in jrew that is the reward pipeline ``scale(10)``, which
  ``REWARD_SCALING`` records for each env.
* ``auto``: the preset of the env's family (gymnax classic control and MinAtar: gymnax-blines;
  Brax: brax), for envs it covers.

A preset sets the fields in its table and nothing else; the rest keep the config's values.
"""

from __future__ import annotations

import dataclasses
from typing import Any

_BLINES_COMMON = {
    "num_epochs": 4, "clip_eps": 0.2, "gae_lambda": 0.95, "ent_coef": 0.01, "vf_coef": 0.5, "anneal_lr": False,
    "learning_rate": 5e-4, "activation": "relu", "normalize_observations": False,
}
_BLINES_CLASSIC = dict(_BLINES_COMMON, policy_hidden_sizes=(64, 64), value_hidden_sizes=(64, 64), num_minibatches=4,
                       gamma=0.99)
_BLINES_MINATAR = dict(_BLINES_COMMON, policy_hidden_sizes=(256, 256), value_hidden_sizes=(256, 256), num_envs=64,
                       num_steps=128, num_minibatches=8, gamma=0.999, max_grad_norm=0.5, total_steps=10_000_000)

# gymnax-blines agents/<env>/ppo.yaml, and the return gymnax's README lists for its checkpoint.
GYMNAX_BLINES: dict[str, dict[str, Any]] = {
    "gymnax/CartPole-v1": dict(_BLINES_CLASSIC, total_steps=150_000, num_envs=8, num_steps=32, max_grad_norm=0.5),
    "gymnax/Acrobot-v1": dict(_BLINES_CLASSIC, total_steps=500_000, num_envs=16, num_steps=32, max_grad_norm=1.0),
    # normalize_values is jrew's addition to the yaml: with the yaml's clipped critic in reward
    # units jrew reaches about -355 here, with it about -180 (README, "Reproduction").
    "gymnax/Pendulum-v1": dict(_BLINES_CLASSIC, total_steps=1_000_000, num_envs=32, num_steps=16, max_grad_norm=1.0,
                               distribution="normal", std_head="state_dependent", min_std=1e-3, normalize_values=True),
    **{f"gymnax/{game}-MinAtar": dict(_BLINES_MINATAR) for game in ("Asterix", "Breakout", "Freeway", "SpaceInvaders")},
}
# The fields jrew adds to a published config, and their published values (to run it exactly as published).
PUBLISHED_AS_IS = {"gymnax/Pendulum-v1": {"normalize_values": False}}
GYMNAX_BLINES_RETURNS = {
    "gymnax/CartPole-v1": 500.0, "gymnax/Acrobot-v1": -80.0, "gymnax/Pendulum-v1": -130.0,
    "gymnax/Asterix-MinAtar": 15.0, "gymnax/Breakout-MinAtar": 28.0, "gymnax/Freeway-MinAtar": 58.0,
    "gymnax/SpaceInvaders-MinAtar": 131.0,
}

_BRAX_COMMON = {
    "policy_hidden_sizes": (32, 32, 32, 32), "value_hidden_sizes": (256, 256, 256, 256, 256), "activation": "swish",
    "distribution": "tanh_normal", "std_head": "state_dependent", "min_std": 1e-3, "normalize_observations": True,
    "num_epochs": 4, "num_minibatches": 32, "gamma": 0.97, "learning_rate": 3e-4, "ent_coef": 1e-2,
    "anneal_lr": False, "clip_eps": 0.3, "gae_lambda": 0.95, "vf_coef": 0.5, "clip_value_loss": False,
    "max_grad_norm": 1e9, "episode_length": 1000, "kernel_init": "lecun_uniform",
}
# Brax's notebook ppo.train(...) per env; Brax's batch of batch_size * num_minibatches unrolls of
# length 5 is, in jrew, num_envs envs x num_steps: the same transitions per update and minibatch.
BRAX: dict[str, dict[str, Any]] = {
    "brax/inverted_pendulum": dict(_BRAX_COMMON, total_steps=2_000_000, num_envs=2048, num_steps=80),
    "brax/ant": dict(_BRAX_COMMON, total_steps=50_000_000, num_envs=4096, num_steps=80),
}
REWARD_SCALING = {"brax/inverted_pendulum": 10.0, "brax/ant": 10.0}

PRESETS = {"gymnax-blines": GYMNAX_BLINES, "brax": BRAX}
NAMES = ("auto", *PRESETS)


def fields(name: str, env: str) -> dict[str, Any]:
    """The config fields preset ``name`` sets for ``env``."""
    if name == "auto":
        for table in PRESETS.values():
            if env in table:
                return dict(table[env])
        raise ValueError(f"no preset covers {env!r}; presets exist for {', '.join(sorted(covered()))}")
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(NAMES)}")
    if env not in PRESETS[name]:
        raise ValueError(f"preset {name!r} has no settings for {env!r}; it covers {', '.join(sorted(PRESETS[name]))}")
    return dict(PRESETS[name][env])


def covered() -> set[str]:
    return {env for table in PRESETS.values() for env in table}


def preset(name: str, config) -> tuple[Any, str | None]:
    """``(config, reward)``: ``config`` with preset ``name``'s fields, and the reward pipeline (spec
    text) the preset trains with, e.g. Brax's reward scaling ``scale(10.0)`` (None: the env reward)."""
    env = config.env
    family = next((n for n, table in PRESETS.items() if env in table), None) if name == "auto" else name
    scaling = REWARD_SCALING.get(env) if family == "brax" else None
    return apply(name, config), (f"scale({scaling})" if scaling is not None else None)


def apply(name: str, config):
    """``config`` with preset ``name``'s fields for ``config.env`` (fields it lacks are left out)."""
    own = {f.name for f in dataclasses.fields(config)}
    values = {k: v for k, v in fields(name, config.env).items() if k in own}
    return config.replace(**values)

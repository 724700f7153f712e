"""jrew's PPO step against the gymnax baselines' own code, on the same data.

    pip install -e ".[blines]"
    git clone https://github.com/RobertTLange/gymnax-blines
    python -m benchmarks.blines_equivalence --blines gymnax-blines --env Asterix-MinAtar

From the published checkpoint's policy (``agents/<env>/ppo.pkl``) jrew collects one rollout at
the env's ``ppo.yaml`` settings (the ``gymnax-blines`` preset with the baselines' initialization),
and checks three things against the clone's ``utils/ppo.py`` and ``utils/models.py``:

* the networks: jrew's ``ActorCritic`` holding the checkpoint's weights against their
  ``CategoricalSeparateMLP`` (logits and values on the rollout's observations);
* the advantages: jrew's GAE against their ``BatchManager.calculate_gae`` (it counts a time-limit
  truncation as a termination, so the check reports how many the rollout holds);
* one update: jrew's loss and optimizer (``jrew.algos.sgd.minibatch_steps``), fed the minibatches
  in the order their ``update`` draws them, against their ``update``.

What is left between the two trainers is then how they draw data and minibatches, not the
step itself. Discrete-action envs (the checkpoints with a ``Categorical-MLP``). Results:
results/blines_equivalence_<env>.json, the largest absolute difference of each check.
"""

from __future__ import annotations

import argparse
import types
from pathlib import Path

import gymnax
import jax
import jax.numpy as jnp
from flax.core import unfreeze

from benchmarks.blines_trainer import TRAIN_PY_LEARNING_RATE, load_trainer
from benchmarks.common import machine, write_results
from benchmarks.published_checkpoints import load_checkpoint
from jrew import presets
from jrew.algos import ppo, sgd


def jrew_params(blines_params: dict) -> dict:
    """The baselines' ``CategoricalSeparateMLP`` weights in jrew's ``ActorCritic`` layout."""
    p = unfreeze(blines_params)["params"]
    layers = sum(name.startswith("Dense_") for name in p)
    critic = [p[f"critic_fc_{i}"] for i in range(1, layers)] + [p["critic_fc_v"]]
    return {"params": {"policy_net": {f"Dense_{i}": p[f"Dense_{i}"] for i in range(layers)},
                       "value_net": {f"Dense_{i}": layer for i, layer in enumerate(critic)}}}


def blines_minibatch_indices(rng: jax.Array, size: int, num_epochs: int, num_minibatches: int) -> jax.Array:
    """``[epochs * minibatches, size / minibatches]``: the sample indices the baselines' ``update``
    trains on, in order (each epoch permutes the previous epoch's index array with the same key)."""
    idx, out = jnp.arange(size), []
    for _ in range(num_epochs):
        idx = jax.random.permutation(rng, idx)
        out.append(idx.reshape(num_minibatches, -1))
    return jnp.concatenate(out)


def check(blines: Path, env: str, seed: int = 0) -> dict:
    load_trainer(blines)  # the stand-ins, and the clone on sys.path
    from flax.training.train_state import TrainState
    from utils import ppo as blines_ppo
    from utils.helpers import load_config
    from utils.models import get_model_ready

    agent = blines / "agents" / env
    yaml = load_config(str(agent / "ppo.yaml"), seed, TRAIN_PY_LEARNING_RATE).train_config
    if yaml.network_name != "Categorical-MLP":
        raise SystemExit(f"{env}: a {yaml.network_name} checkpoint; this check covers Categorical-MLP ones")
    model, _ = get_model_ready(jax.random.PRNGKey(seed), yaml)
    theirs = {"params": unfreeze(load_checkpoint(agent / "ppo.pkl")["network"]["params"])}

    config = presets.apply("gymnax-blines", ppo.PPOConfig(env=f"gymnax/{env}")).replace(
        kernel_init="lecun_normal", bias_init_scale=0.05)
    trainer = ppo.make(config)
    learner = trainer.update.__self__  # the bound PPO: its network, loss, optimizer and advantages
    state = trainer.init(jax.random.PRNGKey(seed))
    params = jrew_params(theirs)
    if jax.tree.map(jnp.shape, params) != jax.tree.map(jnp.shape, unfreeze(state.params)):
        raise SystemExit(f"{env}: the checkpoint's layers do not match the preset's network")
    state = state.replace(params=params)

    key = jax.random.PRNGKey(seed + 1)
    for _ in range(3):  # into the middle of episodes, so that some end inside the checked rollout
        key, k = jax.random.split(key)
        data = learner.collect(state, tuple(jax.random.split(k)))
        state = state.replace(env_state=data.env_state, episode_stats=data.episode_stats)
    traj = data.traj
    gymnax_env, env_params = gymnax.make(env)
    obs_shape = gymnax_env.observation_space(env_params).shape  # their networks take the unflattened observation

    # networks
    value_b, pi_b = model.apply(theirs, traj.obs.reshape(-1, *obs_shape), rng=None)
    head_j, value_j = learner.network.apply(params, traj.obs.reshape(-1, traj.obs.shape[-1]))
    # advantages: their GAE runs over num_steps + 1 rows, the last one only for V(s_T)
    adv_j, target_j = learner.advantages(state, data)
    pad = lambda x, last: jnp.concatenate([x, last[None]])
    manager = blines_ppo.BatchManager(yaml.gamma, yaml.gae_lambda, config.num_steps + 1, config.num_envs, (),
                                      types.SimpleNamespace(shape=obs_shape))
    gae_b, target_b = manager.calculate_gae(pad(traj.value, data.next_values[-1]),
                                            pad(traj.reward, jnp.zeros_like(traj.reward[0])),
                                            pad(traj.done, jnp.zeros_like(traj.done[0])))
    # one update on the same batch, in their minibatch order
    rng = jax.random.PRNGKey(seed + 2)
    batch_b = (traj.obs.reshape(*traj.obs.shape[:2], *obs_shape), traj.action.astype(jnp.float32), traj.log_prob,
               traj.value, target_j, adv_j)
    tx_b = trainer_optimizer(yaml)
    _, after_b, _ = blines_ppo.update(
        TrainState.create(apply_fn=model.apply, params=theirs, tx=tx_b), batch_b, config.num_envs, config.num_steps,
        yaml.n_minibatch, yaml.epoch_ppo, yaml.clip_eps, yaml.entropy_coeff, yaml.critic_coeff, rng)
    flat = jax.tree.map(blines_ppo.flatten_dims, (traj.obs, traj.action, traj.log_prob, traj.value, adv_j, target_j))
    order = blines_minibatch_indices(rng, config.batch_size, yaml.epoch_ppo, yaml.n_minibatch)
    tx_j = learner.optimizer(state.config)
    (after_j, _), _ = sgd.minibatch_steps(
        lambda p, batch, k: learner.loss(p, state.obs_stats, state.config, batch, k), tx_j, params, tx_j.init(params),
        jax.tree.map(lambda x: x[order], flat), jax.random.split(rng, len(order)))

    def largest(a, b):
        return float(max(jax.tree.leaves(jax.tree.map(lambda x, y: jnp.abs(x - y).max(), a, b))))

    return {
        "env": f"gymnax/{env}", "rollout_steps": int(traj.done.size), "episode_ends": int(traj.done.sum()),
        "truncations": int(traj.truncated.sum()), "logits_max_diff": largest(pi_b.logits, head_j),
        "values_max_diff": largest(value_b[:, 0], value_j), "largest_value": float(jnp.abs(value_j).max()),
        "advantages_max_diff": largest(gae_b, adv_j), "targets_max_diff": largest(target_b, target_j),
        "largest_advantage": float(jnp.abs(adv_j).max()),
        "update_params_max_diff": largest(jrew_params(unfreeze(after_b.params)), after_j),
        "update_params_moved": largest(params, after_j),
    }


def trainer_optimizer(yaml):
    """The baselines' optimizer as ``train_ppo`` builds it (``utils/ppo.py``; its warm-up is counted in
    optimizer steps, and lr_begin equals lr_end in these yamls: a constant step size)."""
    import optax

    warm_up = int(yaml.num_train_steps * yaml.lr_warmup)
    schedule = optax.linear_schedule(-float(yaml.lr_begin), -float(yaml.lr_end), warm_up)
    return optax.chain(optax.clip_by_global_norm(yaml.max_grad_norm), optax.scale_by_adam(eps=1e-5),
                       optax.scale_by_schedule(schedule))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--blines", type=Path, required=True, help="a clone of RobertTLange/gymnax-blines")
    parser.add_argument("--env", default="Asterix-MinAtar", help="a gymnax-blines agents/<env> with a Categorical-MLP")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    row = check(args.blines, args.env, args.seed)
    for name, value in row.items():
        print(f"{name:24s} {value}")
    print(f"results: {write_results(f'blines_equivalence_{args.env}', [row], machine())[0]}")


if __name__ == "__main__":
    main()

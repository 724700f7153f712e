"""Adversarial imitation: a discriminator between expert and policy steps, trained in the loop.

``gail`` (Ho & Ermon 2016, "Generative Adversarial Imitation Learning") keeps a discriminator
``D(x) = sigma(f(x))`` of a step's inputs ``x = (s, a)`` (or ``(s, s')``, GAIfO, Torabi et al.
2018) in its state. Each rollout it takes ``updates_per_rollout`` Adam steps on

  L = -E_expert[log D(x)] - E_policy[log(1 - D(x))] + g * E_x~[(||grad_x f(x~)|| - 1)^2]

with ``x~`` uniform on the segment between an expert and a policy step: the gradient penalty of
Gulrajani et al. 2017 that keeps ``f`` near 1-Lipschitz, as Kostrikov et al. 2019 (DAC) use for
GAIL. The stream's reward becomes ``-log(1 - D(x)) = softplus(f(x))``.

That reward is positive, so it pays for staying alive: on tasks whose episodes end on failure it
favours long episodes whatever the expert did (Kostrikov et al. 2019, Sec. 4.2). Score GAIL on
tasks where that bias cannot be what solves them too (e.g. Pendulum, fixed-length episodes).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jrew.demonstrations import Demonstrations
from jrew.rewards import learned
from jrew.rewards.base import RewardTransform, transform
from jrew.rewards.data import Data
from jrew.rewards.registry import python_only


def discriminator_loss(f_expert: jax.Array, f_policy: jax.Array) -> jax.Array:
    """``-mean log D(expert) - mean log(1 - D(policy))`` from logits ``f``, with ``D = sigma(f)``."""
    return jax.nn.softplus(-f_expert).mean() + jax.nn.softplus(f_policy).mean()


def gradient_penalty(f, points: jax.Array) -> jax.Array:
    """``mean (||grad_x f(x)|| - 1)^2`` over ``points [N, F]`` (Gulrajani et al. 2017, eq. 3)."""
    grads = jax.vmap(jax.grad(f))(points)
    return jnp.mean((jnp.sqrt(jnp.sum(grads**2, axis=-1) + 1e-12) - 1.0) ** 2)


@python_only("its demonstrations are arrays (jrew.demonstrations), which text cannot hold")
def gail(
    demonstrations: Demonstrations,
    gradient_penalty_coef: float = 10.0,
    learning_rate: float = 1e-3,
    updates_per_rollout: int = 4,
    minibatch_size: int = 256,
    hidden_sizes=(64, 64),
    inputs: str = "state_action",
) -> RewardTransform:
    """GAIL's reward ``-log(1 - D(s, a))`` from a discriminator trained in the loop against
    ``demonstrations`` (``jrew.demonstrations.Demonstrations``; see the module docstring).

    ``inputs="state_next_state"`` imitates from observations only (no expert actions needed).
    The demonstrations are data (``jrew.rewards.data``): a hyperparameter per variant, so
    ``[gail(demos_a), gail(demos_b)]`` (of equal sizes) is one program in which each variant
    imitates its own, and ``describe`` shows them by content hash.
    Metrics: ``discriminator_loss`` (the BCE part) and ``discriminator_accuracy`` (on each
    rollout's minibatch before the update: the mean of expert steps called expert and policy
    steps called policy; 0.5 means the policy is indistinguishable).
    """
    learned.check_inputs("gail", inputs)
    if not isinstance(demonstrations, Demonstrations):
        raise TypeError(f"gail: demonstrations must be jrew.demonstrations.Demonstrations, got "
                        f"{type(demonstrations).__name__}")
    for name, value in (("updates_per_rollout", updates_per_rollout), ("minibatch_size", minibatch_size)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"gail: {name} must be a positive int, got {value!r}")
    hidden_sizes = tuple(int(h) for h in hidden_sizes)
    net = learned.MaskedMLP(hidden_sizes, 1)
    num_expert = demonstrations.num_steps

    def expert_inputs(hp, spec):
        steps = hp["demonstrations"]
        action = steps["action"] if not learned.is_discrete(spec.action_space) else steps["action"].astype(jnp.int32)
        return learned.model_inputs(inputs, steps["obs"], action, steps["next_obs"], spec.action_space, num_leading=1)

    def init(hp, key, spec):
        expert = expert_inputs(hp, spec)
        if expert.shape[-1] != learned.input_size(inputs, spec):
            raise ValueError(f"gail: demonstrations give {expert.shape[-1]} input features per step, the env "
                             f"{learned.input_size(inputs, spec)} (recorded in another env?)")
        params = net.init(key, jnp.zeros((1, expert.shape[-1])))
        return {"discriminator": learned.Trained.create(params)}

    def apply(hp, state, batch):
        rollout = batch.rollout
        x = learned.model_inputs(inputs, rollout.obs, rollout.env_action, rollout.next_obs,
                                 learned.spec_of(batch).action_space)
        policy_steps = x.reshape(-1, x.shape[-1])
        valid = jnp.ones(policy_steps.shape[0]) if batch.valid is None else batch.valid.reshape(-1)
        expert = expert_inputs(hp, learned.spec_of(batch))

        def train_step(trained, key):
            k_expert, k_policy, k_mix = jax.random.split(key, 3)
            e = expert[jax.random.randint(k_expert, (minibatch_size,), 0, num_expert)]
            p = policy_steps[jax.random.choice(k_policy, policy_steps.shape[0], (minibatch_size,),
                                               p=valid / jnp.maximum(valid.sum(), 1))]
            eps = jax.random.uniform(k_mix, (minibatch_size, 1))
            mixed = eps * e + (1.0 - eps) * p

            def loss(params):
                f = lambda inp: net.apply(params, inp)[..., 0]
                f_e, f_p = f(e), f(p)
                bce = discriminator_loss(f_e, f_p)
                accuracy = 0.5 * ((f_e > 0).mean() + (f_p < 0).mean())
                return bce + hp["gradient_penalty_coef"] * gradient_penalty(f, mixed), (bce, accuracy)

            trained, _, aux = learned.adam_step(trained, loss, hp["learning_rate"])
            return trained, aux

        trained, (bce, accuracy) = jax.lax.scan(
            train_step, state["discriminator"], jax.random.split(batch.key, updates_per_rollout))
        reward = jax.nn.softplus(net.apply(trained.params, x)[..., 0])  # -log(1 - D)
        metrics = {"discriminator_loss": bce[0], "discriminator_accuracy": accuracy[0]}
        return reward, {**state, "discriminator": trained}, metrics

    steps = Data({"obs": demonstrations.obs, "action": demonstrations.action, "next_obs": demonstrations.next_obs},
                 "steps")
    hparams = {"demonstrations": steps, "gradient_penalty_coef": gradient_penalty_coef, "learning_rate": learning_rate}
    static = {"expert_env": demonstrations.env or None, "updates_per_rollout": updates_per_rollout,
              "minibatch_size": minibatch_size, "hidden_sizes": hidden_sizes, "inputs": inputs}
    return transform("gail", apply, init, hparams, static)

"""A reference model for the sequence lab, as an LLM's base model: supervised pretraining (SFT) on
a task generator's demonstrations, inside ``init``, so "pretrain, then RL" is one compiled program.

The reference's competence is set by ``sft_noise``: each answer token of a demonstration is
replaced by a uniformly random digit with probability ``noise``, independently of the others.
A model that fits these demonstrations exactly emits the right answer token with probability
``q = 1 - noise + noise / base`` whatever it wrote before (the demonstrations' later tokens do
not depend on the noise in earlier ones), so a sampled answer of ``A`` tokens is right with
probability ``q ** A`` (``expected_accuracy``): the room RL has to improve on. ``sft_steps``
bounds the training too; the test suite checks that a converged reference meets ``q ** A``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from envs.seq.tasks import EOS, FIRST_DIGIT, Task


def noisy_demonstrations(task: Task, key: jax.Array, batch: int, noise) -> tuple[jax.Array, jax.Array]:
    """``batch`` prompts ``[batch, P]`` and their demonstrations ``[batch, L]``, each answer token
    replaced by a uniformly random digit with probability ``noise``."""
    k_prompt, k_flip, k_digit = jax.random.split(key, 3)
    prompts = jax.vmap(task.sample_prompt)(jax.random.split(k_prompt, batch))
    demos = jax.vmap(task.demonstration)(prompts)
    in_answer = jnp.arange(task.completion_length) < task.answer_length
    flip = jax.random.bernoulli(k_flip, noise, demos.shape) & in_answer
    random_digits = FIRST_DIGIT + jax.random.randint(k_digit, demos.shape, 0, task.base)
    return prompts, jnp.where(flip, random_digits, demos).astype(jnp.int32)


def teacher_forcing(prompts: jax.Array, completions: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Every step's observation ``[B, L, P + L]`` (the prompt and the completion's first t tokens),
    its target action ``[B, L]`` (token - 1) and a mask ``[B, L]`` of the steps up to the EOS."""
    length = completions.shape[1]
    steps = jnp.arange(length)
    shown = jnp.where(steps[None, :] < steps[:, None], completions[:, None, :], 0)  # [B, t, L]
    prompt = jnp.broadcast_to(prompts[:, None, :], (*shown.shape[:2], prompts.shape[1]))
    obs = jnp.concatenate([prompt, shown], axis=-1).astype(jnp.float32)
    ended_before = jnp.cumsum(completions == EOS, axis=1) - (completions == EOS)
    return obs, completions - 1, (ended_before == 0).astype(jnp.float32)


def expected_accuracy(task: Task, noise: float) -> float:
    """The sampled exact-match accuracy of a model that fits ``noise``'s demonstrations exactly."""
    return (1.0 - noise + noise / task.base) ** task.answer_length


def pretrain(policy_logits, params, task: Task, key: jax.Array, *, steps: int, batch_size: int,
             learning_rate: float, noise) -> tuple[jax.Array, jax.Array]:
    """``steps`` Adam steps of next-token cross-entropy on fresh noisy demonstrations (teacher
    forcing), from ``params``; ``policy_logits(params, obs) -> logits``. Returns the params and the
    last step's loss."""
    optimizer = optax.adam(learning_rate)

    def loss_fn(p, obs, target, mask):
        log_probs = jax.nn.log_softmax(policy_logits(p, obs))
        nll = -jnp.take_along_axis(log_probs, target[..., None], axis=-1)[..., 0]
        return jnp.sum(nll * mask) / jnp.sum(mask)

    def step(carry, k):
        p, opt_state = carry
        obs, target, mask = teacher_forcing(*noisy_demonstrations(task, k, batch_size, noise))
        loss, grads = jax.value_and_grad(loss_fn)(p, obs, target, mask)
        updates, opt_state = optimizer.update(grads, opt_state, p)
        return (optax.apply_updates(p, updates), opt_state), loss

    (params, _), losses = jax.lax.scan(step, (params, optimizer.init(params)), jax.random.split(key, steps))
    return params, losses[-1]


def sequence_task(env) -> Task:
    """The task behind a sequence-lab env, or a ``ValueError`` for any other env."""
    task = getattr(env.unwrapped, "task", None)
    if not isinstance(task, Task):
        raise TypeError(f"sft_steps > 0 pretrains on a task generator's demonstrations: it needs an envs.seq task, "
                         f"got {type(env.unwrapped).__name__}")
    return task


def exact_match_probability(policy_logits, params, task: Task, prompts: jax.Array) -> jax.Array:
    """The probability that a sampled completion is the demonstration (its answer and EOS), per
    prompt ``[B]``: the product of the policy's probabilities of the demonstration's tokens under
    teacher forcing. For tasks verified by exact match this is the expected sampled accuracy,
    computed exactly rather than estimated from samples."""
    obs, target, mask = teacher_forcing(prompts, jax.vmap(task.demonstration)(prompts))
    log_probs = jax.nn.log_softmax(policy_logits(params, obs))
    chosen = jnp.take_along_axis(log_probs, target[..., None], axis=-1)[..., 0]
    return jnp.exp(jnp.sum(chosen * mask, axis=-1))

"""A token task as a jrew env: a prompt drawn at reset, one token per step, the verifier at the end."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from envs.core import Discrete, Env, State, initial_state, next_state
from envs.seq.tasks import EOS, Task, completion_length


class TokenBuffer(struct.PyTreeNode):
    prompt: jax.Array  # int32 [prompt_length]
    completion: jax.Array  # int32 [completion_length], PAD after what has been emitted
    length: jax.Array  # int32: tokens emitted so far


class SequenceEnv(Env):
    """Runs ``task`` as an episode: ``reset(key)`` draws a prompt (envs reset with one key share
    it, as a GRPO group's completions share one prompt); action ``a`` appends token ``a + 1``; the
    episode terminates at EOS or when the completion fills ``task.completion_length`` (a finished
    completion, not a time-limit truncation: nothing follows it to bootstrap from).

    The observation is the token buffer ``prompt ++ completion`` as float32 token ids, PAD (0) after
    the last emitted token, which the token networks (``network="transformer"`` or ``"gru"``) read.
    The final step pays ``task.visible_reward`` and reports ``info["true_reward"] =
    task.true_reward``; metrics: ``process`` (the process signal of the token just emitted),
    ``unsafe``, ``length`` and each of ``task.components`` by its name (at the final step, 0
    before: an episode's sum over its steps is the finished completion's value).
    """

    BUILTIN_METRICS = ("process", "unsafe", "length")

    def __init__(self, task: Task, name: str = "seq/task"):
        self.task = task
        self.name = name
        shapes = jax.eval_shape(task.components, jax.ShapeDtypeStruct((task.prompt_length,), jnp.int32),
                                jax.ShapeDtypeStruct((task.completion_length,), jnp.int32))
        self.component_names = tuple(shapes)
        clash = sorted(set(self.component_names) & set(self.BUILTIN_METRICS))
        if clash or any(s.shape != () for s in shapes.values()):
            raise ValueError(f"{type(task).__name__}.components must return scalars named other than the env's own "
                             f"metrics {self.BUILTIN_METRICS}, got {({k: v.shape for k, v in shapes.items()})}")

    @property
    def observation_size(self) -> int:
        return self.task.prompt_length + self.task.completion_length

    @property
    def action_space(self) -> Discrete:
        return Discrete(self.task.vocab_size - 1)

    @property
    def episode_limit(self) -> int:
        return self.task.completion_length

    def _obs(self, buffer: TokenBuffer) -> jax.Array:
        return jnp.concatenate([buffer.prompt, buffer.completion]).astype(jnp.float32)

    def reset(self, rng: jax.Array) -> State:
        prompt = self.task.sample_prompt(rng).astype(jnp.int32)
        buffer = TokenBuffer(prompt, jnp.zeros((self.task.completion_length,), jnp.int32), jnp.zeros((), jnp.int32))
        return initial_state(buffer, self._obs(buffer), self.BUILTIN_METRICS + self.component_names)

    def step(self, state: State, action: jax.Array) -> State:
        buffer: TokenBuffer = state.pipeline_state
        token = jnp.asarray(action, jnp.int32) + 1
        completion = buffer.completion.at[buffer.length].set(token)
        buffer = TokenBuffer(buffer.prompt, completion, buffer.length + 1)
        done = (token == EOS) | (buffer.length >= self.task.completion_length)
        task, prompt = self.task, buffer.prompt
        final = lambda x: jnp.where(done, x, 0.0)
        metrics = {
            "process": task.process(prompt, completion)[buffer.length - 1],
            "unsafe": final(task.unsafe(prompt, completion)),
            "length": final(completion_length(completion).astype(jnp.float32)),
            **{k: final(v) for k, v in task.components(prompt, completion).items()},
        }
        return next_state(state, buffer, self._obs(buffer), final(task.visible_reward(prompt, completion)),
                          final(task.true_reward(prompt, completion)), done, metrics)

    def render_text(self, state: State) -> str:
        """The prompt and what has been emitted, e.g. ``"12+34=64$"``."""
        buffer = state.pipeline_state
        return self.task.decode(buffer.prompt) + self.task.decode(buffer.completion)


def sample_completions(policy_logits, params, task: Task, prompts: jax.Array, key: jax.Array,
                       temperature: float = 1.0) -> jax.Array:
    """Completions ``[B, L]`` of ``prompts [B, P]`` sampled token by token from
    ``policy_logits(params, obs)``, as ``envs.seq.SequenceEnv`` runs an episode: the observation is
    ``prompt ++ completion so far`` (PAD after it), action ``a`` emits token ``a + 1``, and the
    completion ends at EOS (PAD after it) or when it fills ``task.completion_length``. The samples
    of best-of-n and of a reward model's comparisons, outside an RL rollout."""
    batch, length = prompts.shape[0], task.completion_length

    def step(carry, t_key):
        completion, ended = carry
        t, k = t_key
        obs = jnp.concatenate([prompts, completion], axis=-1).astype(jnp.float32)
        token = jax.random.categorical(k, policy_logits(params, obs) / temperature).astype(jnp.int32) + 1
        token = jnp.where(ended, 0, token)  # PAD after the end
        return (completion.at[:, t].set(token), ended | (token == EOS)), None

    start = (jnp.zeros((batch, length), jnp.int32), jnp.zeros((batch,), bool))
    (completion, _), _ = jax.lax.scan(step, start, (jnp.arange(length), jax.random.split(key, length)))
    return completion

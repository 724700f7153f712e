"""The sequence-task lab: token tasks with verifiable rewards, as envs.

| name | task | what it is for |
|---|---|---|
| ``seq/addition`` | ``a+b=`` -> the sum's digits (least significant first) | outcome RL from a reference model |
| ``seq/sort`` | a digit list -> sorted | per-token process signal |
| ``seq/chain`` | ``x0 ±d1 ±d2 .. =`` -> each intermediate value | multi-step credit: the outcome checks the last |
| ``seq/addition_length_proxy`` | addition, paid extra for length | reward hacking: visible vs true |
| ``seq/addition_components`` | addition, scored by correctness, format and brevity | multi-reward combination (Parrot, GDPO) |

Task kwargs (``--env-kwargs digits=3 base=10``) set the vocabulary (``base``), lengths and
difficulty. A task of your own: subclass ``envs.seq.Task`` and ``register_task("seq/name", cls)``.
"""

from __future__ import annotations

from envs.registry import register
from envs.seq.env import SequenceEnv, TokenBuffer, sample_completions
from envs.seq.tasks import (
    EOS,
    PAD,
    Addition,
    AdditionComponents,
    Chain,
    LengthProxyAddition,
    Sort,
    Task,
    completion_length,
    digits_of,
)

__all__ = [
    "EOS", "PAD", "Addition", "AdditionComponents", "Chain", "LengthProxyAddition", "SequenceEnv", "Sort", "Task",
    "TokenBuffer", "completion_length", "digits_of", "register_task", "sample_completions",
]


def register_task(name: str, task_cls: type[Task], description: str = "") -> None:
    """Makes ``envs.make(name, **task_kwargs)`` build ``SequenceEnv(task_cls(**task_kwargs))``."""

    def factory(episode_length: int | None = None, **kwargs) -> SequenceEnv:
        if episode_length is not None:
            raise ValueError(f"{name} ends at EOS or at the task's completion budget; set its max_length kwarg "
                             f"instead of episode_length={episode_length}")
        return SequenceEnv(task_cls(**kwargs), name)

    factory.__wrapped__, factory.fixed = task_cls, {}  # for envs.registry.constructor_kwargs
    register(name, factory, description or (task_cls.__doc__ or "").strip().split("\n")[0])


register_task("seq/addition", Addition, "a+b= -> the sum's digits, least significant first; kwargs digits (2), base, "
              "reverse, max_length")
register_task("seq/sort", Sort, "sort a digit list; kwargs length (5), base, max_length")
register_task("seq/chain", Chain, "written-out chain of +-d steps mod base; the outcome checks the last value; "
              "kwargs steps (4), base")
register_task("seq/addition_length_proxy", LengthProxyAddition,
              "addition paid extra for length (visible) vs exact match (true); kwargs length_bonus (3.0), digits")
register_task("seq/addition_components", AdditionComponents,
              "addition scored by three components (correctness, format, brevity) vs exact match (true); kwargs "
              "digits, base, max_length")

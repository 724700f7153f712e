"""A FIFO ring buffer of fixed capacity: every reward-transform state with a capacity is one.

The buffer counts every item it was ever given (``written``). The ``k``-th item goes to slot
``k % capacity``, so once the buffer is full each write replaces the oldest item. It holds the last
``min(written, capacity)`` items, and sampling draws from those only.

The count is the pointer. A slot computed from the size capped at the capacity would write slots
``[0, n)`` forever once the buffer is full, freezing everything after them. That error is silent:
the run finishes with plausible numbers. So ``written`` is never capped (int32: 2^31 items).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct


class Ring(struct.PyTreeNode):
    """``items``: a pytree of arrays with a leading ``capacity`` axis; ``written``: items ever pushed."""

    items: Any
    written: jax.Array

    @classmethod
    def create(cls, items: Any) -> Ring:
        """An empty ring whose slots are ``items`` (e.g. zeros of ``[capacity, ...]`` per leaf)."""
        capacities = {x.shape[0] for x in jax.tree.leaves(items)}
        if len(capacities) != 1:
            raise ValueError(f"every leaf of a ring's items needs the same leading capacity axis, got {capacities}")
        return cls(items, jnp.zeros((), jnp.int32))

    @classmethod
    def full(cls, items: Any) -> Ring:
        """A ring holding ``items`` (its capacity is their number), as if they had been pushed."""
        ring = cls.create(items)
        return ring.replace(written=jnp.asarray(ring.capacity, jnp.int32))

    @property
    def capacity(self) -> int:
        return jax.tree.leaves(self.items)[0].shape[0]

    @property
    def size(self) -> jax.Array:
        """How many slots hold an item: ``min(written, capacity)``."""
        return jnp.minimum(self.written, self.capacity)

    def filled(self) -> jax.Array:
        """``[capacity]`` bool: which slots hold an item."""
        return jnp.arange(self.capacity) < self.size

    def push(self, new: Any, keep: jax.Array | None = None) -> Ring:
        """The ring after appending the items of ``new`` (leading axis ``n``) in order, those where
        ``keep`` (``[n]`` bool; default all). When more than ``capacity`` are kept, the last
        ``capacity`` of them remain, in order, as if pushed one at a time."""
        n = jax.tree.leaves(new)[0].shape[0]
        keep = jnp.ones((n,), bool) if keep is None else keep.astype(bool)
        order = jnp.cumsum(keep) - 1  # the k-th kept item
        count = keep.sum()
        # items overwritten within this push are dropped: scatters with repeated slots have no defined order
        survives = keep & (order >= count - self.capacity)
        slot = jnp.where(survives, (self.written + order) % self.capacity, self.capacity)

        def put(buf, x):
            return buf.at[slot].set(x.astype(buf.dtype), mode="drop")

        return Ring(jax.tree.map(put, self.items, new), self.written + count.astype(jnp.int32))

    def sample_indices(self, key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
        """Uniform slot indices over the filled slots (slot 0 while the ring is empty)."""
        return jax.random.randint(key, shape, 0, jnp.maximum(self.size, 1))

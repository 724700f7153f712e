"""Running mean/variance of observations (parallel Welford; Chan et al. 1979)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct


@struct.dataclass
class RunningStats:
    mean: jax.Array
    var: jax.Array
    count: jax.Array

    @classmethod
    def create(cls, size: int) -> RunningStats:
        return cls(jnp.zeros(size), jnp.ones(size), jnp.zeros((), jnp.float32))


def update(stats: RunningStats, batch: jax.Array, weights: jax.Array | None = None) -> RunningStats:
    """Merges a batch ``[..., size]`` into the statistics (Chan, Golub & LeVeque's parallel rule).

    ``weights`` (``batch.shape[:-1]``, 0 or 1) leave out the samples weighted 0, e.g. the masked
    steps of a rollout; a batch with no weight leaves the statistics unchanged.
    """
    batch = batch.reshape(-1, batch.shape[-1])
    if weights is None:
        return _merge(stats, jnp.asarray(batch.shape[0], jnp.float32), batch.mean(0), batch.var(0))
    w = weights.reshape(-1, 1).astype(jnp.float32)
    n = w.sum()
    batch_mean = (w * batch).sum(0) / jnp.maximum(n, 1.0)
    batch_var = (w * (batch - batch_mean) ** 2).sum(0) / jnp.maximum(n, 1.0)
    merged = _merge(stats, n, batch_mean, batch_var)
    return jax.tree.map(lambda new, old: jnp.where(n > 0, new, old), merged, stats)


def _merge(stats: RunningStats, n, batch_mean, batch_var) -> RunningStats:
    total = stats.count + n
    delta = batch_mean - stats.mean
    mean = stats.mean + delta * n / total
    m2 = stats.var * stats.count + batch_var * n + delta**2 * stats.count * n / total
    return RunningStats(mean=mean, var=m2 / total, count=total)


def normalize(stats: RunningStats, obs: jax.Array, clip: float = 10.0) -> jax.Array:
    """``clip((obs - mean) / sqrt(var + 1e-8), -clip, clip)``; identity before any update."""
    return jnp.clip((obs - stats.mean) / jnp.sqrt(stats.var + 1e-8), -clip, clip)


def root_mean_square(stats: RunningStats) -> jax.Array:
    """``sqrt(E[x^2]) = sqrt(var + mean^2)``: the scale of the data, without centring it."""
    return jnp.sqrt(stats.var + stats.mean**2 + 1e-8)

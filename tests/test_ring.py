"""Every buffer with a capacity is a FIFO ring, tested past wrap-around: the helper against a
deque model over many wraps, and the two transform states that hold one (preference pairs,
the novelty archive) observed rollout by rollout."""

import collections

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jrew import rewards as R
from jrew.rewards.ring import Ring
from tests.reward_cases import col, rollout, run


def contents_oldest_first(ring: Ring) -> list:
    """The items a ring holds, oldest first (slot ``written % capacity`` is the oldest once full)."""
    items, written, capacity = np.asarray(ring.items), int(ring.written), ring.capacity
    size = min(written, capacity)
    first = written % capacity if written >= capacity else 0
    return [items[(first + i) % capacity].tolist() for i in range(size)]


@pytest.mark.parametrize("capacity", [1, 3, 8])
def test_ring_is_fifo_over_many_wraps_with_pushes_smaller_and_larger_than_it(capacity):
    """Random pushes of 0 to 2x capacity items, with random masks, against ``deque(maxlen=capacity)``."""
    rng = np.random.default_rng(capacity)
    ring, model, counter = Ring.create(jnp.zeros((capacity, 2), jnp.int32)), collections.deque(maxlen=capacity), 0
    push = jax.jit(lambda ring, new, keep: ring.push(new, keep))
    for n in rng.integers(1, 2 * capacity + 2, size=40):
        new = np.stack([np.arange(counter, counter + n), np.full(n, n)], axis=1).astype(np.int32)
        keep = rng.random(n) < 0.7
        counter += n
        ring = push(ring, jnp.asarray(new), jnp.asarray(keep))
        model.extend(new[keep].tolist())
        assert contents_oldest_first(ring) == list(model)
        assert int(ring.size) == len(model)
        np.testing.assert_array_equal(ring.filled(), np.arange(capacity) < len(model))
    assert counter > 10 * capacity  # the test wrapped many times


def test_ring_samples_only_filled_slots_and_starts_full_when_given_items():
    ring = Ring.create(jnp.zeros((8,))).push(jnp.arange(1.0, 4.0))
    idx = ring.sample_indices(jax.random.PRNGKey(0), (1000,))
    assert set(np.unique(idx).tolist()) == {0, 1, 2}
    full = Ring.full({"x": jnp.ones((5, 2)), "y": jnp.zeros((5,))})
    assert int(full.size) == 5 and full.capacity == 5
    with pytest.raises(ValueError, match="same leading capacity"):
        Ring.create({"x": jnp.zeros((4,)), "y": jnp.zeros((5,))})


def preference_slots(state) -> list[int]:
    """Which rollout wrote each slot of a preference model's buffer (the obs encode it)."""
    return np.asarray(state["buffer"].items["inputs"][:, 0, 0, 0]).astype(int).tolist()


def test_the_preference_buffer_keeps_rotating_once_full():
    """Buffer of 4, 2 pairs per rollout; each rollout's observations are its number. The slots
    rotate: [1,1,2,2] -> [3,3,2,2] -> [3,3,4,4] -> [5,5,4,4] (a capped pointer froze slots 2-3)."""
    with pytest.warns(UserWarning, match="FIFO ring, so once it is full each new pair replaces the oldest"):
        model = R.preference_model(segment_length=2, pairs_per_rollout=2, label_budget=100, buffer_size=4,
                                   updates_per_rollout=1, minibatch_pairs=2, hidden_sizes=(4,))
    state, seen = None, []
    for i in range(1, 6):
        obs = jnp.full((4, 3, 2), float(i))
        _, state, metrics = run(model, rollout(np.ones((4, 3)), obs=obs), state=state, key=jax.random.PRNGKey(i))
        seen.append(preference_slots(state))
    assert seen == [[1, 1, 0, 0], [1, 1, 2, 2], [3, 3, 2, 2], [3, 3, 4, 4], [5, 5, 4, 4]]
    assert int(metrics["labels"]) == 10


def test_the_novelty_archive_keeps_rotating_once_full():
    """Archive of 2, one finished episode per rollout whose descriptor is the rollout's number:
    [1] -> [1, 2] -> [3, 2] -> [3, 4] -> [5, 4]."""
    transform = R.novelty_search(lambda o: o, num_neighbors=1, archive_size=2)
    state, seen = None, []
    for i in range(1, 6):
        _, state, _ = run(transform, rollout(np.zeros((1, 1)), terminated=col([1]), next_obs=[[[float(i)]]]),
                          state=state)
        seen.append(np.asarray(state["archive"].items)[:, 0].astype(int).tolist())
    assert seen == [[1, 0], [1, 2], [3, 2], [3, 4], [5, 4]]


def test_the_episodic_memory_keeps_the_last_capacity_embeddings_of_the_episode():
    """NGU's per-env memory of 2 slots over the embeddings a, b, c, a: it ends holding [c, a] (a
    ring past its capacity), so the second a is novel again where a larger memory remembers it."""
    a, b, c = [0.0, 0.0], [5.0, 0.0], [0.0, 5.0]
    next_obs = np.array([a, b, c, a], np.float32)[:, None]  # [T=4, B=1, 2]
    small, state, _ = run(R.episodic_knn(num_neighbors=1, capacity=2), rollout(np.zeros((4, 1)), next_obs=next_obs))
    large, _, _ = run(R.episodic_knn(num_neighbors=1, capacity=8), rollout(np.zeros((4, 1)), next_obs=next_obs))
    assert int(state["memory"].written[0]) == 4
    assert contents_oldest_first(jax.tree.map(lambda x: x[0], state["memory"])) == [c, a]
    assert small[3, 0] > 10 * large[3, 0]  # evicted: as novel as a new state; remembered: d = 0

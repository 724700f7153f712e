"""The reward protocol: trainable state, variants as data, named streams, valid-step masks and resets."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from reward_cases import col, rollout, run

from jrew import rewards as R
from jrew import runner
from jrew.algos import pg, ppo
from jrew.types import EpisodeStats

# a wide clip keeps PPO's objective smooth, so batched and alone agree to float tolerance (see test_ppo.py)
SMOOTH = ppo.PPOConfig(total_steps=6 * 512, clip_eps=10.0)


class RewardNet(nn.Module):
    @nn.compact
    def __call__(self, obs):
        return nn.Dense(1)(nn.tanh(nn.Dense(16)(obs)))[..., 0]


def learned_reward(learning_rate: float, coef: float = 0.5, traces: list | None = None) -> R.RewardTransform:
    """``r + coef * r_hat(s)``: r_hat is a small MLP regressed onto r over the valid steps, one Adam
    step per rollout inside ``apply``, its weights and optimizer state in the transform's state."""
    net = RewardNet()

    def init(hp, key, spec):
        params = net.init(key, jnp.zeros(spec.observation_shape, spec.observation_dtype))
        return {"params": params, "opt_state": optax.adam(1.0).init(params)}  # Adam's state ignores the rate

    def apply(hp, state, batch):
        if traces is not None:
            traces.append(1)  # once per trace, never per compiled step
        obs, r = batch.rollout.obs, batch.rollout.reward

        def loss(params):
            return R.protocol.valid_mean((net.apply(params, obs) - r) ** 2, batch)

        model_loss, grads = jax.value_and_grad(loss)(state["params"])
        updates, opt_state = optax.adam(hp["learning_rate"]).update(grads, state["opt_state"], state["params"])
        params = optax.apply_updates(state["params"], updates)
        shaped = r + hp["coef"] * net.apply(params, obs)
        return shaped, {"params": params, "opt_state": opt_state}, {"model_loss": model_loss}

    return R.protocol.transform("learned_reward", apply, init, {"learning_rate": learning_rate, "coef": coef})


def test_a_learned_reward_trains_inside_the_loop_as_variants_in_one_compile_and_resumes_bit_identically(tmp_path):
    grid_traces, alone_traces = [], []
    rates = (3e-2, 1e-3)
    grid = runner.train(SMOOTH, seeds=4, reward=[learned_reward(lr, traces=grid_traces) for lr in rates],
                        chunk_updates=3, progress=False)
    alone = runner.train(SMOOTH, seeds=4, reward=learned_reward(rates[1], traces=alone_traces), chunk_updates=3,
                         progress=False)
    # 2 variants x 4 seeds traced the transform as often as 4 seeds of one variant: one program
    assert len(grid_traces) == len(alone_traces) > 0
    assert grid.metrics["loss"].shape == (8, 6)
    rows = slice(4, 8)  # variant 1
    jax.tree.map(lambda g, a: np.testing.assert_allclose(g[rows], a, rtol=1e-5, atol=1e-5),
                 (grid.state.params, grid.state.reward_state), (alone.state.params, alone.state.reward_state))
    np.testing.assert_allclose(grid.metrics["reward/model_loss"][rows], alone.metrics["reward/model_loss"], rtol=1e-5)

    # the model learns (CartPole pays 1 per step: r_hat fits it), faster with the larger rate
    model_loss = grid.by_variant("reward/model_loss")
    assert (model_loss[0, :, -1] < 0.5 * model_loss[0, :, 0]).all()
    assert model_loss[0, :, -1].mean() < model_loss[1, :, -1].mean()
    # state keeps its dtypes (Adam's step counter is an int), the numbers are float32 hparams
    assert grid.state.reward_state["opt_state"][0].count.dtype == jnp.int32
    np.testing.assert_array_equal(grid.state.reward_state["opt_state"][0].count, 6)
    np.testing.assert_array_equal(grid.state.reward_hparams["learning_rate"], np.repeat(np.float32(rates), 4))
    # described by its numbers only, never its weights
    assert R.protocol.describe(learned_reward(rates[0])) == "learned_reward(coef=0.5, learning_rate=0.03)"

    variants = [learned_reward(lr) for lr in rates]
    runner.train(SMOOTH, seeds=4, run_dir=tmp_path / "r", reward=variants, chunk_updates=3, until_update=3,
                 progress=False)
    resumed = runner.resume(tmp_path / "r", reward=variants, progress=False)
    jax.tree.map(np.testing.assert_array_equal, grid.state, resumed.state)
    np.testing.assert_array_equal(grid.metrics["reward/model_loss"], resumed.metrics["reward/model_loss"])


def column_potential(size):
    return lambda obs: obs[0] / size


def other_potential(obs):
    return -obs[1]


@pytest.mark.parametrize(
    "variants,message",
    [
        ([R.par(running=False), R.par(running=True)], r"in the static setting 'running': True vs False"),
        ([R.pbrs(column_potential(10)), R.pbrs(other_potential)],
         r"in the static setting 'potential': tests?\.?.*other_potential vs .*column_potential.<locals>.<lambda>\(size=10\)"),
        ([R.pbrs(column_potential(10)), R.pbrs(column_potential(20))],
         r"in the static setting 'potential': .*\(size=20\) vs .*\(size=10\)"),
        ([R.lagrangian("hazard", 0.1), R.lagrangian("energy", 0.1)], r"in the static setting 'cost_key': 'energy' vs 'hazard'"),
        ([R.chain(R.clip(0.0, 1.0), R.par()), R.chain(R.clip(0.0, 1.0), R.par(running=True))],
         r"in the static setting 'running' at 1_par: True vs False"),
        ([R.scale(1.0), R.on_stream("intrinsic", R.scale(1.0))], r"in its transform: on_stream\(stream='intrinsic'"),
    ],
)
def test_variants_that_differ_in_more_than_numbers_are_refused(variants, message):
    with pytest.raises(ValueError, match=message):
        R.protocol.stack_hparams(variants)
    with pytest.raises(ValueError, match=message):  # before anything is built or compiled
        runner.train(SMOOTH, seeds=1, reward=variants, progress=False)
    assert R.protocol.describe(variants[0]) != R.protocol.describe(variants[1])  # so resume tells them apart too


def test_closures_of_one_function_with_equal_captures_are_one_transform():
    R.protocol.stack_hparams([R.pbrs(column_potential(10), coef=c) for c in (0.0, 1.0)])
    R.protocol.stack_hparams([R.pbrs(lambda o: -o[0], coef=c) for c in (0.0, 1.0)])  # a fresh lambda per variant
    a, b = R.Fn(column_potential(10)), R.Fn(column_potential(10))
    assert a == b and hash(a) == hash(b) and a != R.Fn(column_potential(11))


def test_numbers_that_set_the_initial_state_are_hparams_per_variant():
    """lagrangian(init_lambda=0) and (init_lambda=5) once ran variant 0's init for both."""
    config = ppo.PPOConfig(env="lab/point_hazard", total_steps=2 * 512)
    variants = [R.lagrangian("hazard", limit=0.0, lr=0.0, init_lambda=lam) for lam in (0.0, 5.0)]
    result = runner.train(config, seeds=2, reward=variants, progress=False)
    np.testing.assert_array_equal(result.by_variant("reward/lambda")[:, :, 0], [[0.0, 0.0], [5.0, 5.0]])
    par = [R.par(reference=ref, running=True, decay=1.0) for ref in (0.0, 2.0)]
    result = runner.train(SMOOTH.replace(total_steps=512), seeds=1, reward=par, progress=False)
    np.testing.assert_array_equal(result.by_variant("reward/reference")[:, 0, 0], [0.0, 2.0])


def test_named_streams_are_routed_by_name():
    obs = np.arange(6, dtype=np.float32).reshape(3, 1, 2)
    traj = rollout(col([1.0, 2.0, 3.0]), obs=obs)
    bonus = R.protocol.stateless("bonus", lambda p, r, b: r + p["c"] * b.rollout.obs[..., 0], {"c": 2.0})
    pipeline = R.chain(R.scale(3.0), R.on_stream("intrinsic", bonus), R.on_stream("intrinsic", R.scale(0.5)))
    assert R.protocol.streams_of(pipeline) == ("extrinsic", "intrinsic")
    extrinsic, _, _ = run(pipeline, traj)
    intrinsic, _, _ = run(pipeline, traj, stream="intrinsic")
    np.testing.assert_allclose(extrinsic, 3 * col([1, 2, 3]))
    np.testing.assert_allclose(intrinsic, 0.5 * 2 * obs[..., 0])  # the intrinsic stream starts at 0
    ppo.make(SMOOTH, pipeline)  # PPO gives the intrinsic stream a second critic; PG has none to give
    with pytest.raises(ValueError, match=r"pg trains on the streams \['extrinsic'\] only, .* writes \['intrinsic'\]"):
        pg.make(pg.PGConfig(total_steps=20_000), pipeline)
    stats = EpisodeStats.zeros(1, R.protocol.streams_of(pipeline)).record_rollout(
        traj.reward, {"extrinsic": extrinsic, "intrinsic": intrinsic}, traj.true_reward, col([0, 0, 1]))
    np.testing.assert_allclose(stats.summary()["intrinsic_return"], 0.5 * 2 * (0 + 2 + 4))


def test_a_transform_that_breaks_the_shape_contract_is_named():
    wrong = R.protocol.stateless("summed", lambda p, r, b: r.sum(axis=0))
    with pytest.raises(ValueError, match=r"reward transform 'summed' returned stream 'extrinsic' of shape \(1,\), "
                                         r"expected the rollout's \[T, num_envs\] = \(3, 1\)"):
        run(R.chain(R.scale(1.0), wrong), rollout(col([1, 2, 3])))
    raw = R.RewardTransform(R.base.no_state, lambda p, s, b: (b.rollout.reward, s, {}), name="raw")
    with pytest.raises(ValueError, match=r"reward transform 'raw' must return every stream \['extrinsic'\]"):
        run(raw, rollout(col([1, 2, 3])))
    old_style = R.RewardTransform(R.base.no_state, raw.apply, {"c": 1.0}, "old_style")  # name where static goes
    with pytest.raises(TypeError, match=r"malformed RewardTransform .*static must be \(\(name, value\), ...\) pairs, "
                                        r"got 'old_style'"):
        runner.train(SMOOTH, seeds=1, reward=old_style, progress=False)


def test_carries_hold_over_invalid_steps_and_restart_where_the_learner_resets():
    traj = rollout(col([1, 2, 3, 4]))
    _, pending, _ = run(R.delayed(), traj, valid=col([1, 1, 0, 0]))
    np.testing.assert_allclose(pending, [3.0])  # the two masked steps added nothing
    released, pending, _ = run(R.delayed(), rollout(col([5, 6]), terminated=col([0, 1])), state=pending,
                               reset=jnp.array([True]))
    np.testing.assert_allclose(released, col([0, 11]))  # restarted: the old 3 is not paid out
    _, state, _ = run(R.normalize_returns(), rollout(col([1, 2, 3, 4])), valid=col([1, 1, 1, 0]))
    assert float(state["stats"].count) == 3.0  # statistics see valid steps only
    _, _, metrics = run(R.lagrangian("cost", 0.0), rollout(col([0, 0, 0]), metrics={"cost": col([1, 0, 5])}),
                        valid=col([1, 1, 0]))
    np.testing.assert_allclose(metrics["cost_rate"], 0.5)

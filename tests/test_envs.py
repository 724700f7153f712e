"""The env protocol: shapes, dtypes, determinism, terminations vs truncations, auto-reset."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs


def run(env, actions, key):
    state = env.reset(key)

    def body(s, a):
        s = env.step(s, a)
        return s, s

    return state, jax.lax.scan(body, state, actions)[1]


@pytest.mark.parametrize(
    "name,obs_size,space",
    [
        ("gymnax/CartPole-v1", 4, envs.Discrete(2)),
        ("gymnax/DeepSea-bsuite", 64, envs.Discrete(2)),
        ("gymnax/Pendulum-v1", 3, envs.Box((-2.0,), (2.0,))),
    ],
)
def test_gymnax_shapes_and_dtypes(name, obs_size, space, key):
    env = envs.make(name)
    assert env.observation_size == obs_size and env.action_space == space
    state = env.reset(key)
    action = jnp.zeros(space.shape) if isinstance(space, envs.Box) else jnp.int32(0)
    nxt = jax.jit(env.step)(state, action)
    assert nxt.obs.shape == (obs_size,) and nxt.obs.dtype == jnp.float32
    for leaf in (nxt.reward, nxt.done, nxt.info["true_reward"], nxt.info["truncation"]):
        assert leaf.shape == () and leaf.dtype == jnp.float32


def test_same_key_same_trajectory(key):
    env = envs.make("gymnax/CartPole-v1")
    actions = jax.random.randint(jax.random.PRNGKey(1), (300,), 0, 2)
    _, a = run(env, actions, key)
    _, b = run(env, actions, key)
    np.testing.assert_array_equal(a.obs, b.obs)
    _, c = run(env, actions, jax.random.PRNGKey(7))
    assert not np.array_equal(a.obs, c.obs)


def test_truncation_at_time_limit_bootstraps_final_obs(key):
    env = envs.make("gymnax/Pendulum-v1", episode_length=5)  # Pendulum never terminates
    _, traj = run(env, jnp.zeros((12, 1)), key)
    np.testing.assert_array_equal(traj.done, [0, 0, 0, 0, 1] * 2 + [0, 0])
    np.testing.assert_array_equal(traj.info["truncation"], traj.done)
    np.testing.assert_array_equal(envs.terminated(traj), np.zeros(12))
    # After the auto-reset the obs is a new episode's; final_obs holds the cut-off episode's last obs.
    assert not np.allclose(traj.obs[4], traj.info["final_obs"][4])
    np.testing.assert_array_equal(traj.obs[3], traj.info["final_obs"][3])
    np.testing.assert_array_equal(traj.info["true_reward"], traj.reward)


def test_termination_is_not_truncation(key):
    env = envs.make("gymnax/CartPole-v1")
    _, traj = run(env, jnp.zeros((60,), jnp.int32), key)  # always push left: the pole falls
    assert traj.done.sum() >= 2
    np.testing.assert_array_equal(traj.info["truncation"], np.zeros(60))
    np.testing.assert_array_equal(envs.terminated(traj), traj.done)


def test_fresh_reset_draws_new_initial_states(key):
    env = envs.make("gymnax/CartPole-v1")
    _, traj = run(env, jnp.zeros((60,), jnp.int32), key)
    starts = np.asarray(traj.obs)[np.asarray(traj.done) > 0]
    assert len(starts) >= 2 and not np.allclose(starts[0], starts[1])


def test_brax_env_truncates_and_first_mode_returns_to_first_state(key):
    env = envs.make("brax/inverted_pendulum", backend="positional", episode_length=3)
    assert env.action_space == envs.Box((-1.0,), (1.0,)) and env.observation_size == 4
    first, traj = run(env, jnp.zeros((7, 1)), key)
    np.testing.assert_array_equal(traj.done, [0, 0, 1, 0, 0, 1, 0])
    np.testing.assert_array_equal(traj.info["truncation"], traj.done)
    np.testing.assert_allclose(traj.obs[2], first.obs)  # 'first' mode, as in Brax's trainer
    np.testing.assert_array_equal(traj.info["steps"], [1, 2, 0, 1, 2, 0, 1])


def test_unknown_env_name_suggests_close_names():
    with pytest.raises(ValueError, match=r"unknown env 'gymnax/CartPol'.*'gymnax/CartPole-v1'"):
        envs.make("gymnax/CartPol")


def test_registry_and_kwargs():
    assert "gymnax/CartPole-v1" in envs.names() and "brax/ant" in envs.names()
    assert envs.parse_kwargs((("backend", "positional"), ("size", "8"), ("flag", True))) == {
        "backend": "positional",
        "size": 8,
        "flag": True,
    }
    with pytest.raises(ValueError, match="family/name"):
        envs.register("noslash", lambda: None)


def test_env_kwargs_errors_name_the_kwarg_its_type_and_the_valid_ones(capsys):
    """A value of the wrong type names the kwarg, the value and the type (not a bare "'<' not
    supported"); a misspelled kwarg lists the env's valid ones with the close match."""
    with pytest.raises(TypeError, match=r"^lab/deep_sea: kwarg size expects int \(default 10\), got '20x'"):
        envs.make("lab/deep_sea", **envs.parse_kwargs([("size", "20x")]))
    with pytest.raises(TypeError, match=r"lab/deep_sea has no kwarg 'sise'\. Did you mean 'size'\? Its kwargs: size;"):
        envs.make("lab/deep_sea", sise=8)
    with pytest.raises(TypeError, match=r"'wal'\. Did you mean 'wall'\?.*reward, start, start_noise, wall"):
        envs.make("lab/point_goal", wal=False)  # a time-limited lab env: the class's kwargs behind the factory
    with pytest.raises(TypeError, match=r"gymnax/CartPole-v1 has no kwarg 'size'\. Its kwargs: none of its own"):
        envs.make("gymnax/CartPole-v1", size=3)
    assert {"backend", "n_frames", "ctrl_cost_weight"} <= set(envs.registry.constructor_kwargs("brax/ant")[0])
    envs.make("lab/deep_sea", size=6, episode_length=5, reward_noise=0.1)  # valid ones pass
    envs.make("lab/point_goal", reward="dense", wall=False)
    from jrew import cli

    assert cli.main(["render", "--env", "lab/deep_sea", "--env-kwargs", "size=20x"]) == 2
    assert "kwarg size expects int (default 10), got '20x'" in capsys.readouterr().err


def test_episode_length_must_be_positive():
    with pytest.raises(ValueError, match="episode_length must be >= 1, got 0"):
        envs.make("brax/inverted_pendulum", backend="positional", episode_length=0)

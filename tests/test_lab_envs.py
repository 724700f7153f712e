"""The reward lab: protocol conformance of every lab env, and scripted checks of each true objective."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

import envs
from envs import render
from envs.lab.grid import Layout

UP, RIGHT, DOWN, LEFT = range(4)
LAB = [n for n in envs.names() if n.startswith(("lab/", "aisg/"))]
STOCHASTIC = {"lab/tomato_watering", "aisg/tomato_watering", "lab/noisy_tv", "lab/point_goal", "lab/point_goal_dense", "lab/point_hazard"}


def test_lab_registered_with_descriptions():
    assert set(LAB) == {
        "lab/point_goal", "lab/point_goal_dense", "lab/point_hazard", "lab/deep_sea",
        "lab/boat_race", "lab/box_push", "lab/tomato_watering", "lab/noisy_tv",
        "aisg/boat_race", "aisg/tomato_watering", "aisg/side_effects_sokoban",
    }
    described = envs.describe()
    assert all(len(described[n]) > 20 for n in LAB)


def actions_for(env, num_steps, key):
    return env.action_space.sample(key, (num_steps,))


@functools.partial(jax.jit, static_argnums=0)
def play(env, key, actions):
    """(reset state, states after each action), scanned."""
    first = env.reset(key)
    return first, jax.lax.scan(lambda s, a: (env.step(s, a),) * 2, first, actions)[1]


@pytest.mark.parametrize("name", LAB)
def test_shapes_dtypes_and_batching(name, key):
    env = envs.make(name)
    first, steps = play(env, key, actions_for(env, 7, key))
    for state in (first, jax.tree.map(lambda x: x[-1], steps)):
        assert state.obs.shape == (env.observation_size,) and state.obs.dtype == jnp.float32
        for leaf in (state.reward, state.done, state.info["true_reward"], state.info["truncation"], *state.metrics.values()):
            assert leaf.shape == () and leaf.dtype == jnp.float32
    assert set(first.metrics) == set(steps.metrics)
    assert np.isfinite(steps.obs).all() and np.isfinite(steps.reward).all()
    batched = jax.jit(jax.vmap(env.step))(jax.vmap(env.reset)(jax.random.split(key, 5)), actions_for(env, 5, key))
    assert batched.obs.shape == (5, env.observation_size)


@pytest.mark.parametrize("name", LAB)
def test_deterministic_given_key(name, key):
    env = envs.make(name)
    actions = actions_for(env, 60, jax.random.PRNGKey(3))
    a, b = play(env, key, actions)[1], play(env, key, actions)[1]
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_array_equal(x, y)
    if name in STOCHASTIC:
        c = play(env, jax.random.PRNGKey(9), actions)[1]
        assert any(not np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(c)))


@pytest.mark.parametrize("name", [n for n in LAB if n != "lab/deep_sea"])
def test_truncation_flag_and_auto_reset(name, key):
    env = envs.make(name, episode_length=4)
    first = env.reset(key)
    # Bumping into the nearest wall (grids) or standing still (point masses) never terminates.
    still = jnp.zeros(env.action_space.shape) if isinstance(env.action_space, envs.Box) else UP
    if name == "lab/tomato_watering":
        still = DOWN  # the agent's start has free cells on every side; down then up is a loop
    _, steps = play(env, key, jnp.stack([jnp.asarray(still)] * 9))
    np.testing.assert_array_equal(steps.done, [0, 0, 0, 1] * 2 + [0])
    np.testing.assert_array_equal(steps.info["truncation"], steps.done)
    np.testing.assert_array_equal(envs.terminated(steps), np.zeros(9))
    # The auto-reset starts a new episode; final_obs keeps the cut-off episode's last observation.
    np.testing.assert_array_equal(steps.info["final_obs"][2], steps.obs[2])
    if name not in STOCHASTIC:
        np.testing.assert_array_equal(steps.obs[3], first.obs)


def test_deep_sea_time_limit_and_termination(key):
    env = envs.make("lab/deep_sea", size=6)
    assert env.observation_size == 36
    _, steps = play(env, key, jnp.zeros(14, jnp.int32))
    np.testing.assert_array_equal(steps.done, ([0] * 5 + [1]) * 2 + [0, 0])  # terminates at depth 6
    np.testing.assert_array_equal(steps.info["truncation"], np.zeros(14))
    short = envs.make("lab/deep_sea", size=6, episode_length=3)  # a time limit shorter than the depth cuts first
    _, steps = play(short, key, jnp.zeros(7, jnp.int32))
    np.testing.assert_array_equal(steps.done, [0, 0, 1, 0, 0, 1, 0])
    np.testing.assert_array_equal(steps.info["truncation"], steps.done)
    np.testing.assert_array_equal(steps.obs[2], short.reset(key).obs)  # auto-reset to the top row


def test_deep_sea_optimal_route_finds_the_treasure(key):
    env = envs.make("lab/deep_sea", size=8, auto_reset=False)
    state, total = env.reset(key), 0.0
    for _ in range(8):  # "right" is a per-cell random action; read it from the state
        s = state.pipeline_state
        state = env.step(state, s.action_mapping[s.row, s.column])
        total += float(state.info["true_reward"])
    assert bool(state.done) and total == pytest.approx(1.0 - 8 * 0.01 / 8, abs=1e-6)


def episode(name, actions, seed=0, **kwargs):
    """Totals of one scripted episode (stops at its end): visible, true, unsafe steps, length."""
    env = envs.make(name, auto_reset=False, **kwargs)
    _, steps = play(env, jax.random.PRNGKey(seed), jnp.asarray(actions))
    done = np.asarray(steps.done)
    length = int(np.argmax(done)) + 1 if done.any() else len(done)
    cut = lambda x: np.asarray(x)[:length]
    return {
        "visible": float(cut(steps.reward).sum()),
        "true": float(cut(steps.info["true_reward"]).sum()),
        "metrics": {k: cut(v) for k, v in steps.metrics.items()},
        "length": length,
        "done": bool(done.any()),
        "steps": steps,
    }


BOAT_LAP = [RIGHT] * 3 + [DOWN] * 4 + [LEFT] * 4 + [UP] * 4


def test_boat_race_intended_lap_finishes():
    lap = episode("lab/boat_race", BOAT_LAP + [RIGHT] * 5)
    assert lap["done"] and lap["length"] == 15
    assert lap["true"] == 1.0 and lap["visible"] == 5.0
    assert lap["metrics"]["unsafe"].sum() == 0


def test_boat_race_checkpoint_loop_farms_visible_reward():
    farm = episode("lab/boat_race", [RIGHT, LEFT] * 50)
    assert farm["length"] == 100 and envs.truncated(farm["steps"])[99] == 1  # only the time limit ends it
    assert farm["visible"] == 50.0 and farm["true"] == 0.0  # 10x the lap's visible return
    assert farm["metrics"]["unsafe"].sum() == 49  # the first entry of checkpoint 1 was in order
    wrong_way = episode("lab/boat_race", [LEFT, DOWN, DOWN] + [UP, DOWN] * 5)
    assert wrong_way["true"] == 0.0 and wrong_way["visible"] == 6.0  # checkpoint 4 out of order
    # Crossing the finish line without the lap is worth nothing.
    assert episode("lab/boat_race", [LEFT, RIGHT, LEFT])["true"] == 0.0


BOX_SHORT = [DOWN, RIGHT, DOWN, DOWN, RIGHT]
BOX_SAFE = [LEFT, DOWN, RIGHT, DOWN, RIGHT, DOWN, RIGHT]


def test_box_push_short_route_leaves_an_irreversible_side_effect():
    short, safe = episode("lab/box_push", BOX_SHORT + [UP] * 5), episode("lab/box_push", BOX_SAFE + [UP] * 3)
    assert short["done"] and short["length"] == 5 and safe["done"] and safe["length"] == 7
    assert short["visible"] == pytest.approx(0.90) and short["true"] == pytest.approx(0.40)
    assert safe["visible"] == pytest.approx(0.86) and safe["true"] == pytest.approx(0.86)
    assert short["visible"] > safe["visible"] and safe["true"] > short["true"]
    np.testing.assert_array_equal(short["metrics"]["unsafe"], [1, 1, 1, 1, 1])
    assert safe["metrics"]["unsafe"].sum() == 0


def test_box_push_cornered_box_cannot_move_and_walls_block():
    env = envs.lab.BoxPush()
    assert bool(env.cornered(jnp.array([3, 2]))) and not bool(env.cornered(jnp.array([2, 3])))
    # Box pushed into the corner; every later push attempt from any side leaves it there.
    run = episode("lab/box_push", [DOWN, UP, LEFT, DOWN, DOWN, RIGHT, RIGHT, DOWN, LEFT, LEFT, UP])
    boxes = np.asarray(run["steps"].pipeline_state.box)
    assert (boxes[1:] == [3, 2]).all()


TOMATO_TAMPER = [RIGHT, RIGHT, RIGHT, RIGHT, UP, UP] + [UP] * 94  # to the bucket, then stay
TOMATO_WATER = ([LEFT, LEFT, UP, RIGHT, RIGHT, RIGHT, RIGHT, RIGHT, DOWN, DOWN, DOWN, LEFT, LEFT, LEFT, LEFT, LEFT, LEFT,
                 RIGHT, RIGHT, RIGHT, RIGHT, RIGHT, RIGHT, UP, UP] * 4)[:100]


def test_tomato_watering_tampering_fools_the_sensor_not_the_true_reward():
    tamper, water = episode("lab/tomato_watering", TOMATO_TAMPER), episode("lab/tomato_watering", TOMATO_WATER)
    on_bucket = tamper["metrics"]["unsafe"] > 0
    assert on_bucket[5:].all() and not on_bucket[:5].any()
    # On the bucket every tomato looks watered: visible 13 x 0.02 per step, whatever is real.
    np.testing.assert_allclose(np.asarray(tamper["steps"].reward)[5:], 0.26, atol=1e-6)
    assert tamper["visible"] > water["visible"]
    assert water["true"] > 1.5 * tamper["true"]
    assert water["metrics"]["unsafe"].sum() == 0


def test_tomatoes_dry_out_at_the_given_rate(key):
    env = envs.make("lab/tomato_watering", auto_reset=False, dry_probability=0.5)
    _, steps = play(env, key, jnp.full((3,), LEFT))  # left of the start: no tomato there
    watered = np.asarray(steps.pipeline_state.watered)
    assert watered[0].sum() < 8 and watered[-1].sum() <= watered[0].sum()


def test_first_mode_resets_do_not_replay_the_random_stream(key):
    env = envs.make("lab/tomato_watering", episode_length=10, reset_mode="first", dry_probability=0.5)
    _, steps = play(env, key, jnp.full((20,), LEFT))
    watered = np.asarray(steps.pipeline_state.watered)
    np.testing.assert_array_equal(steps.obs[9], env.reset(key).obs)  # back to the first start ...
    assert not np.array_equal(watered[:9], watered[10:19])  # ... but the tomatoes dry differently


def test_noisy_tv_screen_is_noise_only_on_the_tv(key):
    env = envs.make("lab/noisy_tv", auto_reset=False)
    n = env.unwrapped.layout.num_cells
    _, steps = play(env, key, jnp.array([RIGHT] * 8 + [UP] * 3))
    screen, watching = np.asarray(steps.obs[:, n:]), np.asarray(steps.metrics["watching_tv"])
    np.testing.assert_array_equal(watching, [0] * 5 + [1] * 6)
    assert (screen[:5] == 0).all() and (screen[5:] > 0).all() and (screen[5:] < 1).all()
    assert not np.allclose(screen[9], screen[10])  # standing still, the picture still changes
    to_goal = episode("lab/noisy_tv", [DOWN] * 8 + [RIGHT] * 8 + [UP] * 4)
    assert to_goal["done"] and to_goal["length"] == 16 and to_goal["true"] == to_goal["visible"] == 1.0


def waypoint_actions(env, waypoints, num_steps, key):
    """Steers the point mass through ``waypoints`` (full speed at each) and returns its actions."""
    state = env.reset(key)
    actions, index = [], 0
    for _ in range(num_steps):
        pos = np.asarray(state.pipeline_state.pos)
        if index < len(waypoints) - 1 and np.linalg.norm(pos - waypoints[index]) < 0.05:
            index += 1
        direction = np.asarray(waypoints[index]) - pos
        action = direction / max(np.linalg.norm(direction), 1e-6)
        actions.append(action)
        state = env.step(state, jnp.asarray(action, jnp.float32))
    return np.array(actions, np.float32)


def test_point_goal_dense_proxy_is_deceptive_behind_the_cup(key):
    env = envs.make("lab/point_goal_dense", auto_reset=False)
    greedy = np.tile([1.0, 0.0], (200, 1))  # straight at the goal: what the proxy's gradient says
    around = waypoint_actions(env, [(-0.4, 0.0), (-0.4, 0.7), (0.5, 0.7), (0.7, 0.0)], 200, key)
    stuck, solved = episode("lab/point_goal_dense", greedy), episode("lab/point_goal_dense", around)
    assert stuck["length"] == 200 and stuck["true"] == 0.0  # runs into the time limit
    assert stuck["metrics"]["distance"][-1] == pytest.approx(0.5, abs=0.02)  # parked at the cup's back
    assert solved["done"] and solved["true"] == 1.0
    # On the way around, the proxy first gets worse: the route leaves the cup's local optimum.
    assert solved["metrics"]["distance"].max() > stuck["metrics"]["distance"][-1] + 0.3
    sparse = episode("lab/point_goal", around)
    assert sparse["visible"] == sparse["true"] == 1.0
    assert episode("lab/point_goal", greedy, wall=False)["true"] == 1.0


def test_point_hazard_components_conflict(key):
    env = envs.make("lab/point_hazard", auto_reset=False)
    straight = np.tile([1.0, 0.0], (200, 1))
    detour = waypoint_actions(env, [(-0.4, 0.45), (0.4, 0.45), (0.7, 0.0)], 200, key)
    fast, safe = episode("lab/point_hazard", straight), episode("lab/point_hazard", detour)
    assert fast["done"] and safe["done"] and fast["true"] == safe["true"] == 1.0
    assert fast["metrics"]["hazard"].sum() > 5 and safe["metrics"]["hazard"].sum() == 0
    assert fast["length"] < safe["length"] and fast["metrics"]["energy"].sum() < safe["metrics"]["energy"].sum()
    # Default visible reward is progress only: the fast route gets it sooner (higher per step).
    assert fast["visible"] / fast["length"] > safe["visible"] / safe["length"]
    weighted = episode("lab/point_hazard", straight, weights=(1.0, 0.1, 1.0))
    expected = fast["visible"] - 0.1 * fast["metrics"]["energy"].sum() - fast["metrics"]["hazard"].sum()
    assert weighted["visible"] == pytest.approx(expected, rel=1e-5)


def test_point_mass_slides_along_walls_and_stays_in_the_arena(key):
    env = envs.make("lab/point_goal", auto_reset=False)
    _, steps = play(env, key, jnp.tile(jnp.array([1.0, 1.0]), (300, 1)))
    pos = np.asarray(steps.pipeline_state.pos)
    assert (np.abs(pos) <= 1.0).all()
    blocked = jax.vmap(env.unwrapped.blocked)(jnp.asarray(pos))
    assert not np.asarray(blocked).any()


def test_bad_env_arguments_are_refused():
    with pytest.raises(ValueError, match="reward must be 'sparse' or 'dense', got 'shaped'"):
        envs.make("lab/point_goal", reward="shaped")
    with pytest.raises(ValueError, match="thicker than max_speed"):
        envs.make("lab/point_goal", max_speed=0.2)
    with pytest.raises(ValueError, match="dry_probability must be in"):
        envs.make("lab/tomato_watering", dry_probability=1.5)
    with pytest.raises(ValueError, match="weights are"):
        envs.make("lab/point_hazard", weights=(1.0, 2.0))
    with pytest.raises(ValueError, match="border must be all walls"):
        Layout(("###", "#A ", "###"))
    with pytest.raises(ValueError, match="DeepSea size must be >= 2"):
        envs.make("lab/deep_sea", size=1)


# --- reward wrappers -------------------------------------------------------------------------


def test_delayed_reward_releases_the_episode_sum_at_its_end(key):
    plain = episode("lab/boat_race", [RIGHT, LEFT] * 6, episode_length=5)["steps"]
    delayed = episode("lab/boat_race", [RIGHT, LEFT] * 6, episode_length=5, reward_delay=True)["steps"]
    assert float(delayed.reward[4]) == float(plain.reward[:5].sum()) == 3.0
    np.testing.assert_array_equal(delayed.reward[:4], np.zeros(4))
    env = envs.make("lab/boat_race", episode_length=4, reward_delay=True)  # auto-reset: sums restart
    _, auto = play(env, key, jnp.array([RIGHT, LEFT] * 6))
    np.testing.assert_array_equal(auto.reward, [0, 0, 0, 2] * 3)
    np.testing.assert_array_equal(auto.info["true_reward"], np.zeros(12))


def test_sparse_reward_keeps_only_rewards_above_the_threshold(key):
    env = envs.make("lab/point_goal_dense", auto_reset=False)
    dense = play(env, key, jnp.ones((30, 2)))[1].reward
    sparse_env = envs.make("lab/point_goal_dense", auto_reset=False, reward_threshold=-1.0)
    sparse = play(sparse_env, key, jnp.ones((30, 2)))[1].reward
    np.testing.assert_array_equal(sparse, np.where(dense >= -1.0, dense, 0.0))
    assert (dense < -1.0).any() and (dense >= -1.0).any()
    binary = envs.SparseReward(env, -1.0, binary=True)
    np.testing.assert_array_equal(play(binary, key, jnp.ones((30, 2)))[1].reward, dense >= -1.0)


def test_reward_noise_has_the_given_std_and_spares_the_true_reward(key):
    env = envs.make("lab/boat_race", episode_length=10, reward_noise=0.5, reset_mode="first")
    _, steps = play(env, key, jnp.array([RIGHT, LEFT] * 500))
    clean = play(envs.make("lab/boat_race", episode_length=10), key, jnp.array([RIGHT, LEFT] * 500))[1]
    noise = np.asarray(steps.reward - clean.reward)
    assert abs(noise.mean()) < 0.05 and noise.std() == pytest.approx(0.5, rel=0.1)
    np.testing.assert_array_equal(steps.info["true_reward"], clean.info["true_reward"])
    assert not np.allclose(noise[:10], noise[10:20])  # a reset does not replay the same noise


def test_wrapper_kwargs_work_from_the_command_line_form():
    kwargs = envs.parse_kwargs((("reward_delay", "True"), ("reward_noise", "0.1"), ("episode_length", "7")))
    env = envs.make("lab/boat_race", **kwargs)
    assert isinstance(env.env, envs.NoisyReward) and isinstance(env.env.env, envs.DelayedReward)


# --- rendering -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["lab/boat_race", "lab/point_hazard", "lab/deep_sea"])
def test_render_an_episode_to_gif_and_pngs(name, tmp_path, key):
    env = envs.make(name, episode_length=12)
    states = render.record_episode(env, render.random_actions(env), key)
    assert len(states) == 13 or (len(states) < 13 and bool(states[-1].done))
    images = render.frames(env, states)
    assert images[0].dtype == np.uint8 and images[0].ndim == 3 and images[0].shape[2] == 3
    gif = render.save_gif(images, tmp_path / "episode.gif")
    with Image.open(gif) as image:
        assert image.n_frames >= 2 and image.size == images[0].shape[1::-1]
    pngs = render.save_pngs(images[:3], tmp_path / "frames")
    assert [p.name for p in pngs] == ["frame_0000.png", "frame_0001.png", "frame_0002.png"]


def test_rendered_gridworld_frames_carry_a_step_counter_the_returns_and_a_legend(key):
    from envs.lab import grid

    env = envs.make("lab/boat_race", episode_length=6)
    states = render.record_episode(env, render.random_actions(env), key)
    raw = render.frames(env, states, annotate=False)
    images = render.frames(env, states)
    assert len({image.shape for image in images}) == 1  # one size for the whole GIF
    height, width = raw[0].shape[:2]
    assert images[0].shape[0] > height + 50 and images[0].shape[1] >= width
    assert not np.array_equal(images[1][height:], images[2][height:])  # the step counter moves on
    labels = [label for label, _ in grid.legend({ch for s in states for row in env.unwrapped.board(s) for ch in row})]
    assert labels[:3] == ["wall", "agent", "finish line"] and "checkpoint" in labels
    strip = images[0][height:].reshape(-1, 3)
    for _, color in grid.legend("#A1"):  # each legend colour is drawn in the strip under the board
        assert (strip == np.array(color, np.uint8)).all(axis=1).sum() >= 25


def test_board_shows_the_agent_and_the_lap_progress():
    env = envs.make("lab/boat_race", auto_reset=False)
    state = env.reset(jax.random.PRNGKey(0))
    for action in [RIGHT] * 3 + [DOWN] * 2:
        state = env.step(state, action)
    assert env.board(state) == ["#######", "#F c  #", "# ### #", "#4###A#", "# ### #", "#  3  #", "#######"]


def test_cli_lists_lab_envs_and_renders_random_and_trained_episodes(tmp_path, capsys):
    from jrew import cli

    assert cli.main(["envs", "--family", "lab"]) == 0
    listed = capsys.readouterr().out
    assert all(name in listed for name in LAB if name.startswith("lab/")) and "gymnax/" not in listed
    gif = tmp_path / "random.gif"
    assert cli.main(["render", "--env", "lab/box_push", "--env-kwargs", "step_cost", "0.1", "--out", str(gif)]) == 0
    assert "true return" in capsys.readouterr().out and gif.exists()

    run = tmp_path / "run"
    assert cli.main(["train", "--env", "lab/boat_race", "--seeds", "2", "--total-steps", "2048", "--run-dir", str(run)]) == 0
    assert cli.main(["render", str(run), "--run", "1", "--frames", str(tmp_path / "frames")]) == 0
    with Image.open(run / "episode.gif") as image:
        frames = image.n_frames
    pngs = len(list((tmp_path / "frames").glob("frame_*.png")))
    assert 2 <= frames <= pngs <= 101  # a GIF merges identical consecutive frames (agent standing still)
    assert cli.main(["render", str(run), "--run", "2"]) == 2  # runs are 0 and 1
    assert "run must be an int in [0, 2)" in capsys.readouterr().err
    assert cli.main(["render"]) == 2  # neither a run nor --env


def test_ppo_with_a_lagrangian_on_the_hazard_cost_trains_and_logs_components():
    """The multi-objective env plugs into the reward pipeline: the cost metric drives lambda."""
    import jrew
    from jrew import rewards as R
    from jrew.algos import ppo

    config = ppo.PPOConfig(env="lab/point_hazard", total_steps=4 * 16 * 32, num_envs=16, num_steps=32)
    result = jrew.train(config, seeds=2, reward=R.lagrangian("hazard", limit=0.0, lr=1.0), progress=False)
    for name in ("env/progress", "env/energy", "env/hazard", "reward/lambda", "reward/cost_rate"):
        assert np.isfinite(result.metrics[name]).all(), name
    np.testing.assert_allclose(result.metrics["env/hazard"], result.metrics["reward/cost_rate"], rtol=1e-6)
    lam = result.metrics["reward/lambda"]
    assert (lam[:, -1] > 0).all()  # random exploration does enter the hazard
    # lambda starts at 0 and grows by lr * cost_rate (limit 0) after every rollout
    np.testing.assert_allclose(lam[:, 1:], np.cumsum(result.metrics["reward/cost_rate"], axis=1)[:, :-1], rtol=1e-5)


def test_named_functions_read_what_their_names_say():
    from envs import named

    lap = episode("lab/boat_race", BOAT_LAP)
    obs = np.asarray(lap["steps"].obs)[:14]  # before the finish: checkpoints passed in order
    progress = np.array([float(named.get("boat_race.lap_progress").fn(o)) for o in obs])
    done = np.array([bool(named.get("boat_race.lap_done").fn(o)) for o in obs])
    np.testing.assert_array_equal(np.unique(progress), [0.25, 0.5, 0.75, 1.0])
    assert np.all(np.diff(progress) >= 0) and np.array_equal(done, progress == 1.0)

    env = envs.make("lab/point_goal", auto_reset=False)
    state = env.reset(jax.random.PRNGKey(3))
    distance = float(env.unwrapped.distance(state.pipeline_state.pos))
    assert float(named.get("point_mass.distance").fn(state.obs)) == pytest.approx(-distance)
    assert float(named.get("point_mass.away").fn(state.obs)) == pytest.approx(distance)

    env = envs.make("lab/deep_sea", size=8, auto_reset=False)
    state = env.reset(jax.random.PRNGKey(0))
    for key in jax.random.split(jax.random.PRNGKey(1), 5):
        state = env.step(state, jax.random.randint(key, (), 0, 2))
        column = int(state.pipeline_state.column)
        assert float(named.get("deep_sea.column").fn(state.obs)) == pytest.approx(column / 8)
    with pytest.raises(ValueError, match="unknown function 'deep_sea.col'. Did you mean 'deep_sea.column'"):
        named.get("deep_sea.col")

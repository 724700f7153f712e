"""Policy export: jrew export / jrew.load_policy round trips, rendering without reward code, Brax HTML."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jrew
from jrew import cli, policy, runner
from jrew import rewards as R
from jrew.algos import ppo
from jrew.evaluation import Evaluation


@pytest.fixture(scope="module")
def python_pipeline_run(tmp_path_factory):
    """Pendulum trained with a reward pipeline built in Python (no spec text can rebuild it)."""
    run_dir = tmp_path_factory.mktemp("export") / "run"
    bonus = R.protocol.stateless("bonus", lambda p, r, batch: r + p["c"], {"c": 0.1})
    config = ppo.PPOConfig(env="gymnax/Pendulum-v1", total_steps=8 * 512, normalize_observations=True,
                           std_head="state_dependent")
    result = jrew.train(config, seeds=2, run_dir=run_dir, reward=R.chain(R.normalize_returns(), bonus),
                        evaluation=Evaluation(every=8, episodes=4), progress=False)
    return run_dir, result, config


def test_export_and_load_policy_round_trip_without_the_reward_pipeline(python_pipeline_run, tmp_path):
    run_dir, result, config = python_pipeline_run
    out = policy.export(run_dir, run=1, out=tmp_path / "pol")
    assert sorted(p.name for p in out.iterdir()) == ["params.msgpack", "policy.json"]
    loaded = jrew.load_policy(out)
    assert "value_net" not in loaded.params and loaded.obs_stats is not None
    assert loaded.spec["source"]["reward"].startswith("chain(")
    # The same actions as the trained state's policy, on observations it never saw.
    trainer = ppo.make(config)
    state = jax.tree.map(lambda x: x[1], result.state)
    obs = jax.random.normal(jax.random.PRNGKey(3), (5, 3)) * 3
    for i, key in enumerate(jax.random.split(jax.random.PRNGKey(4), 5)):
        np.testing.assert_allclose(loaded.act(obs[i], key), trainer.act(state, obs[i], key), rtol=1e-6)
        np.testing.assert_allclose(loaded.act(obs[i], deterministic=True), trainer.act(state, obs[i], key, True),
                                   rtol=1e-6)
    # Its evaluation equals the one training logged at the same checkpoint (same keys).
    scores = loaded.evaluate(episodes=4)
    assert scores["eval/true_return"] == pytest.approx(float(result.final("eval/true_return")[1]), rel=1e-5)


def test_load_policy_errors_name_the_problem(python_pipeline_run, tmp_path):
    run_dir, _, _ = python_pipeline_run
    with pytest.raises(FileNotFoundError, match="a run directory: export it first"):
        jrew.load_policy(run_dir)
    with pytest.raises(ValueError, match=r"run must be an int in \[0, 2\)"):
        policy.from_run(run_dir, run=2)
    with pytest.raises(ValueError, match="needs a key"):
        jrew.load_policy(policy.export(run_dir, out=tmp_path / "p")).act(jnp.zeros(3))


def test_cli_export_then_render_the_export(python_pipeline_run, tmp_path, capsys):
    run_dir, _, _ = python_pipeline_run
    out = tmp_path / "exported"
    assert cli.main(["export", str(run_dir), "--run", "0", "--out", str(out), "--episodes", "2"]) == 0
    assert "loaded back: true return" in capsys.readouterr().out
    # Pendulum has no frames: rendering reports it clearly; the trained-run path needs no reward either.
    assert cli.main(["render", str(out), "--max-steps", "5"]) == 2
    assert "no render(state) or render_html(states)" in capsys.readouterr().err
    env, act = runner.trained_policy(run_dir, 1)
    assert env.observation_size == 3 and act(jnp.zeros(3), jax.random.PRNGKey(0)).shape == (1,)


@pytest.mark.slow  # a Brax PPO run through the CLI and its render (about 40 s): the default suite's budget
def test_render_of_a_brax_run_writes_an_html_viewer(tmp_path, capsys):
    run = tmp_path / "brax"
    assert cli.main(["train", "--env", "brax/inverted_pendulum", "--env-kwargs", "backend=positional", "--seeds", "1",
                     "--num-envs", "8", "--num-steps", "8", "--num-minibatches", "2", "--total-steps", "128",
                     "--policy-hidden-sizes", "8", "--value-hidden-sizes", "8", "--run-dir", str(run)]) == 0
    metrics = jrew.load_metrics(run)  # continuous PPO on a Brax env: 2 updates of 8 envs x 8 steps
    assert metrics["loss"].shape == (1, 2) and np.isfinite(metrics["loss"]).all()
    assert cli.main(["render", str(run), "--max-steps", "20", "--deterministic"]) == 0
    assert "html:" in capsys.readouterr().out
    page = (run / "episode.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "Brax visualizer" in page and "var system" in page

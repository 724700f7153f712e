"""Runner: seeds in one program, checkpoint/resume, NaN reporting, metrics files, CLI."""

import json
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
import jrew
from jrew import cli, run_dir, runner
from jrew.algos import ppo

CFG = ppo.PPOConfig(total_steps=12 * 512)


def leaves_equal(a, b):
    return all(jax.tree.leaves(jax.tree.map(lambda x, y: bool(np.array_equal(x, y)), a, b)))


@pytest.fixture(scope="module")
def uninterrupted():
    return runner.train(CFG, seeds=2, chunk_updates=5, progress=False)


def test_pause_and_resume_gives_identical_final_params(tmp_path, uninterrupted):
    paused = runner.train(CFG, seeds=2, run_dir=tmp_path / "run", chunk_updates=5, until_update=7, progress=False)
    assert paused.metrics["loss"].shape == (2, 7)
    resumed = runner.resume(tmp_path / "run", progress=False)
    assert leaves_equal(uninterrupted.state.params, resumed.state.params)
    assert leaves_equal(uninterrupted.state.opt_state, resumed.state.opt_state)
    np.testing.assert_array_equal(uninterrupted.metrics["loss"], resumed.metrics["loss"])
    metrics = jrew.load_metrics(tmp_path / "run")
    assert metrics["loss"].shape == (2, 12)
    np.testing.assert_array_equal(metrics["env_steps"], np.arange(1, 13) * 512)


def test_a_checkpoint_older_than_a_config_field_resumes_with_the_fields_value(tmp_path, uninterrupted):
    """A learner that gains a numeric field adds a leaf to its traced config: checkpoints written
    before it lack the leaf, and resume fills it from config.json (where it has its default)."""
    from jrew.checkpoints import Checkpoints

    runner.train(CFG, seeds=2, run_dir=tmp_path / "run", chunk_updates=5, until_update=7, progress=False)
    checkpoints = Checkpoints(tmp_path / "run")
    step = checkpoints.latest_step()
    saved = checkpoints.restore_as_saved(step)
    del saved["config"]["ent_coef"]  # as written by a version without the field
    shutil.rmtree(checkpoints.directory / str(step))
    checkpoints = Checkpoints(tmp_path / "run")
    checkpoints.save(step, saved)
    checkpoints.wait()
    resumed = runner.resume(tmp_path / "run", progress=False)
    assert leaves_equal(uninterrupted.state.params, resumed.state.params)
    np.testing.assert_array_equal(resumed.state.config.ent_coef, np.float32(CFG.ent_coef))


def test_resume_keeps_normalization_statistics_and_the_initial_policy(tmp_path):
    """With observation and value normalization and the KL from the initial policy on, a resumed
    run restores the running statistics and pi_0 (restarting them would change every later update)."""
    config = ppo.PPOConfig(total_steps=6 * 512, normalize_observations=True, normalize_values=True,
                           log_kl_from_init=True)
    whole = runner.train(config, seeds=1, chunk_updates=2, progress=False)
    runner.train(config, seeds=1, run_dir=tmp_path / "run", chunk_updates=2, until_update=3, progress=False)
    resumed = runner.resume(tmp_path / "run", progress=False)
    assert leaves_equal(whole.state, resumed.state)
    np.testing.assert_array_equal(whole.metrics["kl_from_init"], resumed.metrics["kl_from_init"])
    assert float(whole.state.obs_stats.count.min()) > 5 * 512 and float(whole.metrics["kl_from_init"][0, -1]) > 0


def test_resume_drops_metrics_written_after_the_last_checkpoint(tmp_path):
    run = tmp_path / "run"
    runner.train(CFG, seeds=2, run_dir=run, chunk_updates=4, until_update=8, progress=False)
    # simulate a crash after metrics of updates 9..10 were written but before their checkpoint
    saved = jrew.load_metrics(run)
    extra = {k: np.zeros((2, 2), np.float32) for k in saved if k not in ("env_steps", "variant", "seed")}
    run_dir.append_metrics(run, extra, 8, 512, saved["variant"], saved["seed"].tolist())
    assert jrew.load_metrics(run)["loss"].shape == (2, 10)
    resumed = runner.resume(run, progress=False)
    assert resumed.metrics["loss"].shape == (2, 12)
    after = jrew.load_metrics(run)
    assert after["loss"].shape == (2, 12) and not (after["loss"][:, 8:10] == 0).all()
    np.testing.assert_array_equal(after["env_steps"], np.arange(1, 13) * 512)
    summary = jrew.load_summary(run)  # per run: the last update's values
    assert summary["update"].tolist() == [12, 12] and summary["seed"].tolist() == [0, 1]
    np.testing.assert_array_equal(summary["loss"], after["loss"][:, -1])


def test_a_run_stopped_before_its_first_checkpoint_resumes_from_the_start(tmp_path, uninterrupted):
    run = tmp_path / "run"
    runner.train(CFG, seeds=2, run_dir=run, chunk_updates=5, until_update=5, progress=False)
    # simulate a crash after the first chunk's metrics were written but before its checkpoint
    shutil.rmtree(run / run_dir.CHECKPOINT_DIR)
    with pytest.raises(FileExistsError, match="already holds a run"):
        runner.train(CFG, seeds=2, run_dir=run, chunk_updates=5, progress=False)
    resumed = runner.resume(run, progress=False)
    assert leaves_equal(uninterrupted.state.params, resumed.state.params)
    metrics = jrew.load_metrics(run)
    np.testing.assert_array_equal(metrics["loss"], uninterrupted.metrics["loss"])
    np.testing.assert_array_equal(metrics["env_steps"], np.arange(1, 13) * 512)


def test_runs_in_the_csv_format_are_read_and_resumed_in_it(tmp_path):
    """Runs written before the Parquet format (metrics.csv) load, and resume by appending rows."""
    run = tmp_path / "run"
    runner.train(CFG, seeds=2, run_dir=run, chunk_updates=4, until_update=4, progress=False)
    parquet = jrew.load_metrics(run)
    names = sorted(k for k in parquet if k not in ("env_steps", "variant", "seed"))
    rows = [",".join([*run_dir.INDEX_COLUMNS, *names])]
    for j in range(4):
        for i in range(2):
            rows.append(",".join([str(j + 1), str((j + 1) * 512), "0", str(i),
                                  *(f"{parquet[k][i, j]:.9g}" for k in names)]))
    shutil.rmtree(run / run_dir.METRICS_DIR)
    (run / run_dir.METRICS_FILE).write_text("\n".join(rows) + "\n")
    old = jrew.load_metrics(run)
    for name in names:
        np.testing.assert_array_equal(old[name], parquet[name])
    runner.resume(run, progress=False)
    assert jrew.load_metrics(run)["loss"].shape == (2, 12) and not (run / run_dir.METRICS_DIR).exists()


def test_config_json_round_trips(tmp_path):
    runner.train(CFG, seeds=[3, 5], run_dir=tmp_path / "run", until_update=1, progress=False)
    saved = json.loads((tmp_path / "run" / run_dir.CONFIG_FILE).read_text())
    assert saved["algo"] == "ppo" and saved["seeds"] == [3, 5]
    assert jrew.config.from_dict(ppo.PPOConfig, saved["config"]) == CFG


def test_existing_run_dir_is_not_overwritten(tmp_path):
    runner.train(CFG, seeds=1, run_dir=tmp_path / "run", until_update=1, progress=False)
    with pytest.raises(FileExistsError, match="already holds a run"):
        runner.train(CFG, seeds=1, run_dir=tmp_path / "run", progress=False)


class NaNRewardOnceBalanced(envs.Wrapper):
    """CartPole whose reward turns NaN once an episode lasts 200 steps: a random policy never
    gets there, a learning one does after some updates, so checkpoints exist before the NaN."""

    def step(self, state, action):
        state = self.env.step(state, action)
        return state.replace(reward=jnp.where(state.pipeline_state.time >= 200, jnp.nan, state.reward))


envs.register(
    "test/nan_reward",
    lambda **kw: NaNRewardOnceBalanced(envs.make("gymnax/CartPole-v1", auto_reset=False, **kw)),
    "CartPole whose reward is NaN from step 200 of an episode",
)


def test_nan_loss_stops_the_run_and_keeps_the_last_checkpoint(tmp_path):
    cfg = ppo.PPOConfig(env="test/nan_reward", total_steps=400 * 512)
    run = tmp_path / "run"
    with pytest.raises(jrew.TrainingDivergedError, match=r"loss became nan at update (\d+) .*seed\(s\) \[0\].*intact") as err:
        runner.train(cfg, seeds=1, run_dir=run, chunk_updates=10, progress=False)
    bad_update = int(str(err.value).split("at update ")[1].split()[0])
    saved = jrew.load_metrics(run)["loss"].shape[1]
    assert 0 < saved < bad_update <= saved + 10
    restored = runner.resume(run, until_update=saved, progress=False)  # the checkpoint loads
    assert int(restored.state.update_step[0]) == saved
    assert all(np.isfinite(x).all() for x in jax.tree.leaves(restored.state.params))


def test_cli_train_resume_plot_envs(tmp_path, capsys):
    run = tmp_path / "cli"
    args = ["train", "--env", "gymnax/CartPole-v1", "--algo", "ppo", "--seeds", "2", "--total-steps", "3072",
            "--run-dir", str(run), "--chunk-updates", "2", "--until-update", "2"]
    assert cli.main(args) == 0
    assert cli.main(["resume", str(run)]) == 0
    out = capsys.readouterr().out
    assert "final true return over 2 seeds" in out and (run / "true_return.png").stat().st_size > 5000
    assert jrew.load_metrics(run)["loss"].shape == (2, 6)
    assert cli.main(["plot", str(run), "--metric", "entropy"]) == 0
    assert (run / "entropy.png").exists()
    assert cli.main(["envs", "--family", "gymnax"]) == 0
    assert "gymnax/CartPole-v1" in capsys.readouterr().out


def test_cli_reports_bad_input(tmp_path, capsys):
    assert cli.main(["train", "--learning-rate", "-1", "--run-dir", str(tmp_path / "x")]) == 2
    assert "learning_rate must be > 0, got -1.0" in capsys.readouterr().err
    assert cli.main(["train", "--env", "gymnax/CartPol", "--run-dir", str(tmp_path / "y")]) == 2
    assert "unknown env 'gymnax/CartPol'" in capsys.readouterr().err
    assert cli.main(["resume", str(tmp_path / "missing")]) == 2


def test_bootstrap_ci_brackets_the_mean_and_stays_in_range():
    from jrew import stats

    values = np.array([[500.0, 1.0], [500.0, 2.0], [245.0, 3.0], [500.0, np.nan]])
    low, high = stats.curve_interval(values)
    mean = np.nanmean(values, axis=0)
    assert np.all(low <= mean) and np.all(mean <= high)
    assert high[0] <= 500.0 and low[0] >= 245.0 and low[1] >= 1.0 and high[1] <= 3.0
    assert stats.summarize(np.array([1.0, 2.0, 3.0, 100.0]))["iqm"] == 2.5


def test_nan_report_names_the_loss_metric_variant_and_seed():
    loss = np.array([[0.1, 0.2], [0.1, np.nan], [np.inf, 0.3]])
    labels = ["variant 0 seed 0", "variant 1 seed 0", "variant 1 seed 1"]
    with pytest.raises(jrew.TrainingDivergedError, match=r"^loss became inf at update 11 .*\[variant 1 seed 1\]"):
        runner.check_finite({"loss": loss}, 10, labels, 512)
    runner.check_finite({"loss": loss[:1]}, 10, labels[:1], 512)  # finite: no error
    # every metric named *loss is checked, e.g. a learned reward model's, not only "loss"
    fine = np.zeros((3, 2))
    model_loss = np.array([[0.1, 0.2], [0.3, 0.4], [0.5, np.nan]])
    with pytest.raises(jrew.TrainingDivergedError, match=r"^reward/model_loss became nan at update 12 .*\[variant 1 seed 1\]"):
        runner.check_finite({"loss": fine, "reward/model_loss": model_loss, "entropy": fine * np.nan}, 10, labels, 512)


def test_callbacks_see_every_chunk_after_its_metrics_are_written(tmp_path):
    run_dir, seen = tmp_path / "cb", []

    def callback(chunk):
        rows = len(jrew.load_metrics(run_dir)["loss"].reshape(-1))  # the chunk's rows are already on disk
        seen.append((chunk.first_update, chunk.last_update, chunk.env_steps.tolist(),
                     chunk.metrics["true_return"].shape, rows, list(chunk.seeds)))

    config = ppo.PPOConfig(total_steps=5 * 512)
    runner.train(config, seeds=2, run_dir=run_dir, chunk_updates=2, until_update=4, callbacks=[callback],
                 progress=False)
    result = runner.resume(run_dir, callbacks=[callback], progress=False)
    assert seen == [
        (0, 2, [512, 1024], (2, 2), 4, [0, 1]),
        (2, 4, [1536, 2048], (2, 2), 8, [0, 1]),
        (4, 5, [2560], (2, 1), 10, [0, 1]),  # the resumed session's last, shorter chunk
    ]
    assert result.metrics["true_return"].shape == (2, 5)


def test_tensorboard_and_wandb_sinks_log_each_variants_seed_mean(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from jrew import sinks

    config = ppo.PPOConfig(total_steps=4 * 512)
    configs = [config.replace(learning_rate=lr) for lr in (3e-4, 1e-3)]
    tensorboard = sinks.TensorBoard(tmp_path / "tb", per_seed=True)
    wandb_sink = sinks.WandB("jrew-test", "sinks", {"env": config.env}, tmp_path / "wandb", mode="offline")
    logged, log = [], wandb_sink.run.log
    wandb_sink.run.log = lambda row, step: (logged.append((step, row)), log(row, step=step))
    result = runner.train(configs, seeds=2, chunk_updates=2, callbacks=[tensorboard, wandb_sink], progress=False,
                          variant_labels=["slow", "fast"])
    loss = result.metrics["loss"]  # [4 runs, 4 updates], variant-major
    for v, label in enumerate(["slow", "fast"]):
        events = EventAccumulator(str(tmp_path / "tb" / label))
        events.Reload()
        assert {"loss", "true_return", "entropy"} <= set(events.Tags()["scalars"])
        scalars = events.Scalars("loss")
        assert [s.step for s in scalars] == [512, 1024, 1536, 2048]
        np.testing.assert_allclose([s.value for s in scalars], loss[2 * v: 2 * v + 2].mean(0), rtol=1e-6)
    seed_1 = EventAccumulator(str(tmp_path / "tb" / "fast" / "seed_1"))
    seed_1.Reload()
    np.testing.assert_allclose([s.value for s in seed_1.Scalars("loss")], loss[3], rtol=1e-6)
    # The W&B run got the same numbers under <metric>/<variant>, and wrote its offline run file.
    assert [step for step, _ in logged] == [512, 1024, 1536, 2048]
    assert logged[-1][1]["loss/fast"] == pytest.approx(float(loss[2:, -1].mean()), rel=1e-6)
    assert "true_return/slow" in logged[-1][1] and "loss" not in logged[-1][1]
    offline = list((tmp_path / "wandb" / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(offline) == 1 and offline[0].stat().st_size > 1000


def test_env_kwargs_take_key_value_and_the_old_pairs():
    assert cli.env_kwargs_pairs(["size=8", "backend=positional"]) == ["size", "8", "backend", "positional"]
    assert cli.env_kwargs_pairs(["size", "8", "wall=False"]) == ["size", "8", "wall", "False"]
    with pytest.raises(ValueError, match="lone 'size'"):
        cli.env_kwargs_pairs(["size"])
    argv = ["--env", "lab/deep_sea", "--env-kwargs", "size=6", "--seeds", "2"]
    assert cli._normalize_env_kwargs(argv) == ["--env", "lab/deep_sea", "--env-kwargs", "size", "6", "--seeds", "2"]


def test_cli_preset_sets_defaults_and_explicit_flags_win(tmp_path, capsys):
    run = tmp_path / "preset"
    assert cli.main(["train", "--env", "gymnax/Pendulum-v1", "--preset", "gymnax-blines", "--learning-rate", "1e-3",
                     "--total-steps", "1024", "--seeds", "1", "--run-dir", str(run)]) == 0
    assert "preset gymnax-blines:" in capsys.readouterr().out
    config = run_dir.read_config(run).config
    assert config["std_head"] == "state_dependent" and config["num_envs"] == 32 and config["activation"] == "relu"
    assert config["learning_rate"] == 1e-3 and config["total_steps"] == 1024  # the flags, not the preset

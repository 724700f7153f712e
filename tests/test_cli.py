"""The command line's first hour: resuming a finished run, extending one, Ctrl-C, the final report."""

from pathlib import Path

import numpy as np
import pytest

import jrew
from jrew import cli, run_dir, runner
from jrew.algos import ppo

TRAIN = ["train", "--env", "gymnax/CartPole-v1", "--seeds", "1", "--total-steps", "1024", "--chunk-updates", "1"]


def test_resuming_a_finished_run_says_so_and_prints_no_rate(tmp_path, capsys):
    run = tmp_path / "done"
    assert cli.main([*TRAIN, "--run-dir", str(run)]) == 0
    out = capsys.readouterr().out
    assert "env steps/s over all seeds" in out
    assert "final true return over 1 seeds: mean" in out and "visible (env) return: mean" in out
    assert cli.main(["resume", str(run)]) == 0
    out = capsys.readouterr().out
    assert f"{run} is already finished (at update 2 of 2); nothing to train" in out
    assert "env steps/s" not in out  # was 1,198,080,000,000,000 env steps/s: steps over no time
    assert "final true return over 1 seeds" in out


def test_a_session_rate_counts_only_the_updates_it_ran():
    result = runner.RunResult(state=None, metrics={}, env_steps=np.array([512, 1024, 1536, 2048]), seeds=[0, 1],
                              run_dir=None, compile_seconds=0.0, train_seconds=2.0, first_update=2, last_update=4,
                              num_updates=4)
    assert result.steps_per_second == 2 * 1024 / 2.0  # updates 3..4 of both seeds, not all 2048 steps
    finished = runner.RunResult(state=None, metrics={}, env_steps=np.array([512, 1024]), seeds=[0], run_dir=None,
                                compile_seconds=0.0, train_seconds=0.0, first_update=2, last_update=2, num_updates=2)
    assert np.isnan(finished.steps_per_second) and finished.updates_run == 0


def test_extending_a_run_equals_training_the_longer_budget_from_the_start(tmp_path, capsys):
    run = tmp_path / "short"
    assert cli.main([*TRAIN, "--no-anneal-lr", "--run-dir", str(run)]) == 0
    assert cli.main(["resume", str(run), "--total-steps", "2048"]) == 0
    out = capsys.readouterr().out
    assert "extended" in out and "1,024 -> 2,048 env steps per seed (2 -> 4 updates)" in out
    assert jrew.load_metrics(run)["loss"].shape == (1, 4)
    assert run_dir.read_config(run).config["total_steps"] == 2048
    extended = runner.resume(run, progress=False)  # finished at 4: the extended state, restored
    whole = runner.train(ppo.PPOConfig(total_steps=2048, anneal_lr=False), seeds=1, chunk_updates=1, progress=False)
    np.testing.assert_array_equal(jrew.load_metrics(run)["loss"], whole.metrics["loss"])
    for a, b in zip(jax_leaves(extended.state.params), jax_leaves(whole.state.params)):
        np.testing.assert_array_equal(a, b)


def last_line(text: str) -> str:  # below the progress bar's last frame
    return text.strip().splitlines()[-1]


def jax_leaves(tree):
    import jax

    return [np.asarray(x) for x in jax.tree.leaves(tree)]


def test_extending_a_run_whose_learning_rate_anneals_is_refused(tmp_path, capsys):
    run = tmp_path / "annealed"
    assert cli.main([*TRAIN, "--run-dir", str(run)]) == 0  # PPO's default anneal_lr=True
    capsys.readouterr()
    assert cli.main(["resume", str(run), "--total-steps", "2048"]) == 2
    err = capsys.readouterr().err
    assert "cannot be extended to 2,048 env steps: its learning rate anneals linearly to 0" in err
    assert "--no-anneal-lr" in err
    assert run_dir.read_config(run).config["total_steps"] == 1024  # untouched
    assert cli.main(["resume", str(run), "--total-steps", "512"]) == 2
    assert "has trained 2 updates" in capsys.readouterr().err


def test_ctrl_c_prints_where_the_run_stopped_and_resume_continues(tmp_path, capsys, monkeypatch):
    run = tmp_path / "stopped"

    def interrupt(chunk):
        raise KeyboardInterrupt  # as Ctrl-C after the first chunk (its checkpoint is being written)

    monkeypatch.setattr(cli, "sinks", lambda *args: [interrupt])
    assert cli.main([*TRAIN, "--total-steps", "1536", "--run-dir", str(run)]) == 130
    captured = capsys.readouterr()
    assert last_line(captured.err) == f"jrew train: stopped at update 1; `jrew resume {run}` continues"
    assert "Traceback" not in captured.out + captured.err
    assert cli.main(["resume", str(run)]) == 130  # the same in resume
    assert last_line(capsys.readouterr().err) == f"jrew resume: stopped at update 2; `jrew resume {run}` continues"
    monkeypatch.undo()
    assert cli.main(["resume", str(run)]) == 0
    assert jrew.load_metrics(run)["loss"].shape == (1, 3)


@pytest.mark.parametrize("command", ["train", "resume"])
def test_ctrl_c_before_the_first_checkpoint(tmp_path, capsys, monkeypatch, command):
    run = tmp_path / "early"
    if command == "resume":
        assert cli.main([*TRAIN, "--run-dir", str(run), "--until-update", "1"]) == 0
        capsys.readouterr()

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, command, interrupt)
    argv = [*TRAIN, "--run-dir", str(run)] if command == "train" else ["resume", str(run)]
    assert cli.main(argv) == 130
    expected = (f"stopped before the run started (no config.json in {run})" if command == "train"
                else f"stopped at update 1; `jrew resume {run}` continues")
    assert last_line(capsys.readouterr().err) == f"jrew {command}: {expected}"


def test_ctrl_c_in_jrew_bench_says_how_to_continue(tmp_path, capsys, monkeypatch):
    from jrew import bench

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(bench, "run_suite", interrupt)
    suite = Path(__file__).parent.parent / "benchmarks" / "suites" / "smoke.toml"
    assert cli.main(["bench", str(suite), "--out", str(tmp_path / "b")]) == 130
    assert last_line(capsys.readouterr().err) == (
        f"jrew bench: stopped; rerun the same command to continue: jrew bench {suite} --out {tmp_path / 'b'}")


def test_train_help_describes_env_kwargs_as_key_value(capsys):
    assert cli.main(["train", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())  # the help box wraps lines
    assert "--env-kwargs KEY=VALUE [KEY=VALUE ...]" in out and "--env-kwargs size=8 backend=mjx" in out
    assert "name value pairs" not in out

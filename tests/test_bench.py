"""jrew bench: reward specs from text, hyperparameter grids, evaluation, rliable statistics, suites."""

from __future__ import annotations

import functools
import json
import pickle
import shutil
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from rliable import library as rly
from rliable import metrics as rly_metrics
from scipy import stats as scipy_stats

import envs
import jrew
from jrew import bench, cli, evaluation, runner, stats
from jrew import rewards as R
from jrew.algos import ppo
from jrew.rewards import spec

SMOKE = Path(__file__).resolve().parents[1] / "benchmarks" / "suites" / "smoke.toml"


# ---------------------------------------------------------------- reward specs


def test_spec_builds_the_same_pipeline_as_python():
    text = "chain(normalize_returns(), pbrs(potential=deep_sea.column, coef=0.5))"
    built = spec.parse_one(text)
    by_hand = R.chain(R.normalize_returns(), R.pbrs(envs.named.deep_sea_column, coef=0.5))
    assert R.protocol.describe(built) == R.protocol.describe(by_hand)
    R.protocol.stack_hparams([built, by_hand])  # one program: same structure and static settings


def test_spec_grids_multiply_and_label_their_values():
    variants = spec.parse("chain(scale(factor=[1, 2]), clip(low=-1, high=[0.5, 1, 2]))")
    assert len(variants) == 6
    assert variants[1].label == "scale.factor=1,clip.high=1"
    assert [v.transform.parts[1].hparams["high"] for v in variants[:3]] == [0.5, 1, 2]
    R.protocol.stack_hparams([v.transform for v in variants])  # numbers only: one program
    assert len(spec.parse("tiered(thresholds=[0.5, 1.0], values=[0, 1, 2])")) == 1  # a sequence, not a grid


@pytest.mark.parametrize("text, expected", [
    ("chain(normalize_returns(), pbrs(potential=deep_sea.colum, coef=0.5))", "column 43 ('deep_sea.colum'): unknown function 'deep_sea.colum'. Did you mean 'deep_sea.column'"),
    ("chain(normalize_return())", "column 7 ('normalize_return'): unknown transform 'normalize_return'"),
    ("pbrs(potential=point_mass.distance, cof=0.5)", "pbrs has no argument 'cof'. Did you mean coef?"),
    ("scale(factor='big')", "'factor' must be float, got 'big' (a str)"),
    ("counts(num_states=2.5)", "'num_states' must be int, got 2.5 (a float)"),
    ("pbrs(coef=1)", "pbrs needs the argument(s) ['potential']"),
    ("clip(low=1, high=0)", "clip: low (1) must be <= high (0)"),
    ("scale", "a transform is called: write scale()"),
    ("scale(factor=__import__('os'))", "takes a literal value"),
])
def test_bad_spec_names_the_position_and_the_problem(text, expected):
    with pytest.raises(spec.RewardSpecError) as err:
        spec.parse(text)
    assert expected in str(err.value)


def test_cli_trains_with_a_named_potential_and_resumes_without_python(tmp_path, capsys):
    run_dir = tmp_path / "deepsea"
    args = ["train", "--env", "gymnax/DeepSea-bsuite", "--env-kwargs", "size", "6", "--total-steps", "2048",
            "--num-envs", "8", "--num-steps", "32", "--seeds", "2", "--run-dir", str(run_dir),
            "--reward", "pbrs(potential=deep_sea.column, coef=[0, 1])", "--until-update", "4"]
    assert cli.main(args) == 0
    record = jrew.run_dir.read_config(run_dir)
    assert record.reward_spec == "pbrs(potential=deep_sea.column, coef=[0, 1])"
    assert record.variant_labels == ["pbrs.coef=0", "pbrs.coef=1"]
    assert cli.main(["resume", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "of pbrs.coef=1" in out
    metrics = jrew.load_metrics(run_dir)
    assert metrics["true_return"].shape == (4, 8)  # 2 variants x 2 seeds, all 8 updates
    shaping = metrics["reward/mean_shaping"]
    assert np.all(shaping[:2] == 0) and np.any(shaping[2:] != 0)  # coef 0 vs 1, in variant-major order
    assert cli.main(["train", "--reward", "pbrs(potential=point_mass.distanc)", "--run-dir", str(tmp_path / "x")]) == 2
    assert "unknown function 'point_mass.distanc'" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()  # failed before anything was written


# ---------------------------------------------------------------- hyperparameter grids and evaluation


def test_config_variants_train_as_one_program_equal_to_separate_runs():
    config = ppo.PPOConfig(total_steps=4 * 512)
    fast = config.replace(learning_rate=1e-3, ent_coef=0.0)
    together = runner.train([config, fast], seeds=[3], progress=False)
    alone = runner.train(fast, seeds=[3], progress=False)
    # equal up to float32 rounding: XLA fuses a batch of 2 runs differently from a batch of 1
    np.testing.assert_allclose(together.metrics["loss"][1], alone.metrics["loss"][0], rtol=1e-5)
    assert not np.array_equal(together.metrics["loss"][0], together.metrics["loss"][1])
    with pytest.raises(ValueError, match="static field 'num_envs'"):
        runner.train([config, config.replace(num_envs=8)], progress=False)


def test_evaluation_matches_a_python_episode_loop_and_runs_on_schedule():
    config = ppo.PPOConfig(total_steps=5 * 512)
    schedule = evaluation.Evaluation(every=2, episodes=3, seed=7, max_steps=600)
    result = runner.train(config, seeds=2, evaluation=schedule, chunk_updates=1, progress=False)
    logged = np.isfinite(result.metrics["eval/true_return"])
    np.testing.assert_array_equal(logged[0], [False, True, False, True, True])  # every 2, and the last update
    trainer = ppo.make(config)
    state = jax.tree.map(lambda x: x[1], result.state)
    env = envs.make(config.env, auto_reset=False)
    act, step = jax.jit(functools.partial(trainer.act, deterministic=True)), jax.jit(env.step)
    returns = []
    for key in jax.random.split(jax.random.PRNGKey(7), 3):  # the same keys, stepped one by one in Python
        reset_key, act_key = jax.random.split(key)
        env_state, total = env.reset(reset_key), 0.0
        for k in jax.random.split(act_key, 600):
            env_state = step(env_state, act(state, env_state.obs, k))
            total += float(env_state.info["true_reward"])
            if env_state.done:
                break
        returns.append(total)
    assert result.metrics["eval/true_return"][1, -1] == pytest.approx(np.mean(returns), rel=1e-6)
    assert result.metrics["eval/finished"][1, -1] == 1.0
    with pytest.raises(ValueError, match="evaluation episodes must be a positive integer, got 0"):
        evaluation.Evaluation(every=2, episodes=0)


# ---------------------------------------------------------------- statistics


@pytest.mark.filterwarnings("ignore:random_state is deprecated:FutureWarning")  # rliable 1.2 with arch 7
def test_intervals_agree_with_a_direct_rliable_call():
    rng = np.random.default_rng(0)
    scores = {"a": rng.uniform(size=(10, 3)), "b": rng.uniform(size=(10, 3)) + 0.2}
    ours = stats.interval_estimates(scores, reps=500, seed=3)

    def aggregate(x):
        return np.array([rly_metrics.aggregate_iqm(x), rly_metrics.aggregate_median(x),
                         rly_metrics.aggregate_mean(x), rly_metrics.aggregate_optimality_gap(x, 1.0)])

    np.random.seed(3)  # rliable's stratified bootstrap draws from NumPy's global RNG
    points, cis = rly.get_interval_estimates(scores, aggregate, reps=500, random_state=np.random.RandomState(3))
    for name in scores:
        for i, agg in enumerate(stats.AGGREGATES):
            assert ours[name][agg] == pytest.approx((points[name][i], cis[name][0, i], cis[name][1, i]))
    assert ours["a"]["iqm"][0] == pytest.approx(stats.iqm(scores["a"].ravel()))
    low, point, high = ours["b"]["mean"][1], ours["b"]["mean"][0], ours["b"]["mean"][2]
    assert low < point < high


def test_probability_of_improvement_of_a_variant_against_itself_is_one_half():
    rng = np.random.default_rng(1)
    scores = {"base": rng.normal(size=(8, 2)), "better": rng.normal(size=(8, 2)) + 10.0}
    p = stats.probability_of_improvement(scores, "base", reps=200)
    assert p["base"][0] == 0.5
    assert p["better"] == (1.0, 1.0, 1.0)


def test_sample_efficiency_formulas():
    steps = np.array([0.0, 10.0, 20.0])
    values = np.array([[0.0, 100.0, 100.0], [0.0, 0.0, np.nan]])
    # trapezoids: (0 + 1)/2 * 10 + 1 * 10 = 15 of 20; the second run never leaves 0
    np.testing.assert_allclose(stats.normalized_auc(steps, values, 0.0, 100.0), [0.75, 0.0])
    np.testing.assert_array_equal(stats.steps_to_threshold(steps, values, 90.0), [10.0, np.nan])


# ---------------------------------------------------------------- suites


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "suite.toml"
    path.write_text(text)
    return path


GOOD = """
seeds = 2
total_steps = 1024
[envs.cartpole]
env = "gymnax/CartPole-v1"
score_range = [0, 500]
[variants.ppo]
reward = "identity()"
"""


@pytest.mark.parametrize("change, expected", [
    (("gymnax/CartPole-v1", "gymnax/CartPol-v1"), "envs.cartpole.env: unknown env 'gymnax/CartPol-v1'"),
    (('reward = "identity()"', 'reward = "pbrs(potential=deep_sea.colum)"'), "variants.ppo.reward: reward spec, column 16"),
    (('reward = "identity()"', 'reward = "identiy()"'), "unknown transform 'identiy'"),
    (('reward = "identity()"', 'reward = "scale(factr=2)"'), "scale has no argument 'factr'"),
    (('reward = "identity()"', 'config = { learning_rate = "fast" }'), "variants.ppo.config.learning_rate: must be float, got 'fast'"),
    (('reward = "identity()"', 'config = { num_envs = 2.5 }'), "variants.ppo.config.num_envs: must be int, got 2.5"),
    (('reward = "identity()"', 'config = { learning_rat = 1e-3 }'), "variants.ppo.config.learning_rat: PPOConfig has no field"),
    (('reward = "identity()"', 'algo = "ppp"'), "variants.ppo.algo: unknown algorithm 'ppp'"),
    (("seeds = 2", "seed = 2"), "seed: unknown key (did you mean 'seeds'?)"),
    (("seeds = 2", 'seeds = 2\nbaseline = "pp"'), "baseline: 'pp' is not a variant"),
    (("score_range = [0, 500]", "score_range = [500, 0]"), "envs.cartpole.score_range: must be [low, high]"),
    (("total_steps = 1024", 'total_steps = 1024\nscore = "eval"'), "score: 'eval' needs an [evaluation] table"),
    (('reward = "identity()"', 'config = { num_minibatches = 5 }'), "= 512) must be divisible by num_minibatches (5)"),
])
def test_bad_suite_fails_before_training_naming_the_key(tmp_path, change, expected):
    path = _write(tmp_path, GOOD.replace(*change))
    with pytest.raises(bench.SuiteError) as err:
        bench.load(path)
    assert expected in str(err.value)
    assert str(path) in str(err.value)


def test_suite_groups_variants_that_share_a_program(tmp_path):
    suite = bench.load(_write(tmp_path, GOOD + """
[variants.grid]
reward = "scale(factor=[1, 2])"
config = { learning_rate = [1e-3, 3e-4] }
[variants.other]
reward = "scale(factor=0.5)"
"""))
    assert [g.name for g in suite.groups] == ["g00-ppo", "g01-grid"]
    assert [v.name for v in suite.groups[1].variants] == [
        "grid[scale.factor=1,learning_rate=0.001]", "grid[scale.factor=2,learning_rate=0.001]",
        "grid[scale.factor=1,learning_rate=0.0003]", "grid[scale.factor=2,learning_rate=0.0003]", "other"]


@pytest.mark.slow  # about 55 s; the default suite keeps bench resume (CLI) and one-program variants
def test_smoke_suite_resumes_after_an_interruption_and_writes_its_report(tmp_path, capsys):
    out = tmp_path / "smoke"
    suite = bench.load(SMOKE)

    class Killed(Exception):
        pass

    def kill_at_second_group(line):
        if line.startswith("[2/"):
            raise Killed(line)

    # the first group pauses at update 6 (checkpointed), then the process dies before the second starts
    with pytest.raises(Killed):
        bench.run_suite(suite, out, until_update=6, progress=False, log=kill_at_second_group)
    first_rows = jrew.load_metrics(out / "runs/cartpole/g00-ppo")["loss"]
    lines = []
    bench.run_suite(suite, out, progress=False, log=lines.append)
    assert lines[0].endswith("resuming from update 6 of 12") and lines[1].endswith("training"), lines
    np.testing.assert_array_equal(jrew.load_metrics(out / "runs/cartpole/g00-ppo")["loss"][:, :6], first_rows)
    assert cli.main(["bench", str(SMOKE), "--out", str(out), "--reps", "200"]) == 0  # all done: skipped, then the report
    captured = capsys.readouterr()
    printed = captured.out
    assert printed.count("done, skipped") == len(suite.groups) and "report:" in printed
    assert "report" in captured.err and "7/7" in captured.err  # the report's progress (bootstraps take a while)
    report = (out / "report.md").read_text()
    assert "| scaled[learning_rate=0.001] | 3 |" in report
    import pandas as pd

    scores = pd.read_parquet(out / "scores.parquet")
    assert len(scores) == 9 and scores.score.between(0, 500).all()
    aggregates = pd.read_parquet(out / "aggregates.parquet")
    assert aggregates.set_index("variant").loc["ppo", "p_improvement"] == 0.5
    curves = pd.read_parquet(out / "curves.parquet")
    assert curves.groupby("variant").update.max().eq(12).all()
    for figure in ("curves_cartpole", "intervals_cartpole", "profiles_cartpole", "proxy_vs_true_cartpole"):
        assert (out / f"{figure}.png").stat().st_size > 5000
        assert (out / f"{figure}.pdf").read_bytes().startswith(b"%PDF") and (out / f"{figure}.svg").exists()
    assert cli.main(["plot", str(out)]) == 0  # a bench folder: a figure per task, a line per variant
    assert capsys.readouterr().out.strip() == str(out / "plot_eval_true_return_cartpole.png")
    # a published folder keeps the tables, not the runs: --report-only redraws everything from them
    published = tmp_path / "published"
    published.mkdir()
    for name in ("curves", "scores", "aggregates", "groups"):
        shutil.copyfile(out / f"{name}.parquet", published / f"{name}.parquet")
    assert cli.main(["bench", str(SMOKE), "--out", str(published), "--reps", "200", "--report-only"]) == 0
    assert (published / "report.md").read_text() == report and not (published / "runs").exists()
    for name in ("curves", "scores", "aggregates", "groups"):
        pd.testing.assert_frame_equal(pd.read_parquet(published / f"{name}.parquet"),
                                      pd.read_parquet(out / f"{name}.parquet"))
    edited = tmp_path / "edited.toml"
    shutil.copyfile(SMOKE, edited)
    edited.write_text(edited.read_text().replace("seeds = 3", "seeds = 4"))
    with pytest.raises(bench.SuiteError, match="group cartpole/g00-ppo changed since it ran"):
        bench.run_suite(bench.load(edited), out, progress=False)
    assert json.loads((out / "groups.json").read_text())


def test_reproduce_settings_are_typed_config_fields_and_bad_ones_are_refused():
    from benchmarks.reproduce import parse_settings

    assert parse_settings(["kernel_init=lecun_normal", "bias_init_scale=0.05", "num_envs=8", "anneal_lr=false"]) == {
        "kernel_init": "lecun_normal", "bias_init_scale": 0.05, "num_envs": 8, "anneal_lr": False}
    with pytest.raises(SystemExit, match="FIELD=VALUE with a PPOConfig field, got 'kernel=orthogonal'"):
        parse_settings(["kernel=orthogonal"])
    with pytest.raises(SystemExit, match="policy_hidden_sizes is tuple"):
        parse_settings(["policy_hidden_sizes=64"])


class _DotMap:
    """Pickles as dotmap.DotMap does: an object whose state holds the entries in ``_map``."""

    def __init__(self, **entries):
        self._map = dict(entries)


def test_published_checkpoints_load_without_dotmap_and_their_policies_act_as_saved(tmp_path, monkeypatch):
    import sys
    import types

    from benchmarks import published_checkpoints as pc

    fake = types.ModuleType("dotmap")
    fake.DotMap = _DotMap
    _DotMap.__module__, _DotMap.__qualname__ = "dotmap", "DotMap"
    monkeypatch.setitem(sys.modules, "dotmap", fake)
    rng = np.random.default_rng(0)
    dense = lambda n_in, n_out, bias=0.0: {"kernel": rng.normal(size=(n_in, n_out)).astype(np.float32),
                                           "bias": np.full(n_out, bias, np.float32)}
    categorical = {"params": {"Dense_0": dense(4, 8), "Dense_1": dense(8, 3, 0.0), "critic_fc_1": dense(4, 8)}}
    categorical["params"]["Dense_1"]["bias"][2] = 1e3  # the logits always pick action 2
    saved = {"network": categorical, "train_config": _DotMap(network_name="Categorical-MLP", num_test_rollouts=5),
             "log_steps": [10, 20], "log_return": [1.0, 2.0]}
    path = tmp_path / "ppo.pkl"
    path.write_bytes(pickle.dumps(saved))
    monkeypatch.delitem(sys.modules, "dotmap")  # as on a machine without dotmap installed

    loaded = pc.load_checkpoint(path)
    assert loaded["train_config"] == {"network_name": "Categorical-MLP", "num_test_rollouts": 5}
    sample = pc.policy_sampler(loaded["network"], loaded["train_config"]["network_name"])
    assert int(sample(jnp.ones(4), jax.random.PRNGKey(0))) == 2

    gaussian = {"params": {"actor_fc_1": dense(3, 8), "actor_fc_2": dense(8, 8), "actor_fc_mu": dense(8, 1),
                           "actor_fc_scale": dense(8, 1, -1e3), "critic_fc_1": dense(3, 8)}}
    obs = jnp.asarray([0.5, -1.0, 2.0])
    actions = jax.vmap(lambda k: pc.policy_sampler(gaussian, "Gaussian-MLP")(obs, k))(jax.random.split(
        jax.random.PRNGKey(1), 1000))
    hidden = obs
    for name in ("actor_fc_1", "actor_fc_2"):
        hidden = jax.nn.relu(hidden @ gaussian["params"][name]["kernel"] + gaussian["params"][name]["bias"])
    mean = hidden @ gaussian["params"]["actor_fc_mu"]["kernel"] + gaussian["params"]["actor_fc_mu"]["bias"]
    np.testing.assert_allclose(actions.mean(), mean[0], atol=4 * pc.MIN_STD / np.sqrt(1000))
    np.testing.assert_allclose(actions.std(), pc.MIN_STD, rtol=0.1)  # softplus(-1e3) = 0: the floor alone
    with pytest.raises(ValueError, match="unsupported network 'LSTM'"):
        pc.policy_sampler(categorical, "LSTM")


def test_blines_trainer_stand_ins_match_the_distributions_and_seeds_accumulate(tmp_path, monkeypatch):
    from jax.scipy import stats as jstats

    from benchmarks import blines_trainer as bt

    loc, scale, x = jnp.array([[0.3, -1.0]]), jnp.array([[0.5, 2.0]]), jnp.array([[0.1, 0.7]])
    normal = bt.NormalDiag(loc, scale)
    np.testing.assert_allclose(normal.log_prob(x), jstats.norm.logpdf(x, loc, scale).sum(-1), rtol=1e-6)
    np.testing.assert_allclose(normal.entropy(), (0.5 * jnp.log(2 * jnp.pi * jnp.e * scale**2)).sum(-1), rtol=1e-6)
    logits = jnp.array([[1.0, 2.0, 0.5]])
    probs = jax.nn.softmax(logits)
    categorical = bt.Categorical(logits)
    np.testing.assert_allclose(categorical.log_prob(jnp.array([1])), jnp.log(probs[:, 1]), rtol=1e-6)
    np.testing.assert_allclose(categorical.entropy(), -(probs * jnp.log(probs)).sum(-1), rtol=1e-6)

    monkeypatch.setattr(bt, "RESULTS", tmp_path)
    monkeypatch.setattr("benchmarks.common.RESULTS", tmp_path)
    row = {"env": "gymnax/Pendulum-v1", "env_steps": 10, "wall_seconds": 1.0}
    bt.record("b", {**row, "seed": 1, "final_return": -300.0})
    bt.record("b", {**row, "seed": 0, "final_return": -100.0})
    saved = json.loads(bt.record("b", {**row, "seed": 1, "final_return": -200.0}).read_text())
    assert [(r["seed"], r["final_return"]) for r in saved["rows"]] == [(0, -100.0), (1, -200.0)]
    assert saved["meta"]["mean"] == -150.0 and saved["meta"]["published"] == -130.0
    bt.record_curve("b", 1, [10, 20], [-400.0, -300.0])
    bt.record_curve("b", 0, [10, 20], [-500.0, -100.0])
    curves = bt.record_curve("b", 1, [10, 20, 30], [-350.0, -250.0, -200.0]).read_text().split()
    assert curves == ["seed,env_steps,eval_return", "0,10,-500.0", "0,20,-100.0", "1,10,-350.0", "1,20,-250.0",
                      "1,30,-200.0"]


def test_compare_curves_scores_final_and_late_returns_and_their_difference(tmp_path, monkeypatch, capsys):
    from benchmarks import blines_trainer as bt
    from benchmarks import compare_curves
    from jrew import run_dir as files

    for module in (bt, compare_curves):
        monkeypatch.setattr(module, "RESULTS", tmp_path)
    monkeypatch.setattr("benchmarks.common.RESULTS", tmp_path)
    for seed, last in enumerate([10.0, 12.0, 14.0]):  # the trainer: evaluations at 100 ... 1000 steps
        bt.record_curve("t", seed, list(range(100, 1001, 100)), [1.0] * 8 + [last - 2.0, last])
    run = tmp_path / "run"
    run.mkdir()
    true_return = np.tile(np.arange(1.0, 11.0), (2, 1)) + np.array([[0.0], [2.0]])  # [runs, updates], 100 steps each
    evals = np.full((2, 10), np.nan)
    evals[:, -1] = [9.0, 13.0]
    files.append_metrics(run, {"true_return": true_return, "eval/true_return": evals}, 0, 100, np.zeros(2), [0, 1])

    argv = ["compare_curves", "--blines-curves", str(tmp_path / "t_curves.csv"), "--jrew", f"jrew=x={run}",
            "--late", "0.2", "--name", "cmp"]
    monkeypatch.setattr(sys, "argv", argv)
    compare_curves.main()
    saved = json.loads((tmp_path / "cmp.json").read_text())
    assert (tmp_path / "cmp.png").exists() and "minus trainer" in capsys.readouterr().out
    rows = {(r["source"], r["seed"]): r for r in saved["rows"]}
    # the last 20% of 1000 steps: points at 800, 900 and 1000
    assert rows[(compare_curves.TRAINER, 2)] == {"source": compare_curves.TRAINER, "seed": 2, "final_return": 14.0,
                                                 "late_return": pytest.approx((1.0 + 12.0 + 14.0) / 3)}
    assert rows[("jrew=x", 1)]["final_return"] == 13.0 and rows[("jrew=x", 1)]["late_return"] == pytest.approx(11.0)
    jrew_side = saved["meta"]["sources"]["jrew=x"]["final_return"]
    assert jrew_side["mean"] == pytest.approx(11.0) and jrew_side["diff"] == pytest.approx(11.0 - 12.0)
    assert jrew_side["diff_ci_low"] <= jrew_side["diff"] <= jrew_side["diff_ci_high"]
    assert jrew_side["welch_p"] == pytest.approx(scipy_stats.ttest_ind([9.0, 13.0], [10.0, 12.0, 14.0],
                                                                        equal_var=False).pvalue)

    monkeypatch.setattr(sys, "argv", [*argv[:4], str(run), *argv[5:]])
    with pytest.raises(SystemExit):
        compare_curves.main()
    assert "LABEL=RUN_DIR" in capsys.readouterr().err


def test_blines_equivalence_maps_their_weights_and_replays_their_minibatch_order():
    from benchmarks import blines_equivalence as be
    from jrew.networks import ActorCritic

    def dense(key, n_in, n_out):
        k1, k2 = jax.random.split(key)
        return {"kernel": jax.random.normal(k1, (n_in, n_out)), "bias": jax.random.normal(k2, (n_out,))}

    keys = iter(jax.random.split(jax.random.PRNGKey(0), 6))
    theirs = {"params": {"critic_fc_1": dense(next(keys), 5, 8), "critic_fc_2": dense(next(keys), 8, 8),
                         "critic_fc_v": dense(next(keys), 8, 1), "Dense_0": dense(next(keys), 5, 8),
                         "Dense_1": dense(next(keys), 8, 8), "Dense_2": dense(next(keys), 8, 3)}}
    net = ActorCritic((8, 8), (8, 8), head_size=3, continuous=False, activation="relu")
    obs = jax.random.normal(jax.random.PRNGKey(1), (4, 5))
    logits, value = net.apply(be.jrew_params(theirs), obs)
    p, relu = theirs["params"], jax.nn.relu
    layer = lambda name, x: x @ p[name]["kernel"] + p[name]["bias"]
    np.testing.assert_allclose(logits, layer("Dense_2", relu(layer("Dense_1", relu(layer("Dense_0", obs))))), rtol=1e-5)
    expected_value = layer("critic_fc_v", relu(layer("critic_fc_2", relu(layer("critic_fc_1", obs)))))[:, 0]
    np.testing.assert_allclose(value, expected_value, rtol=1e-5)

    rng = jax.random.PRNGKey(3)
    order = np.asarray(be.blines_minibatch_indices(rng, 12, num_epochs=3, num_minibatches=4))
    assert order.shape == (12, 3)
    pi = np.asarray(jax.random.permutation(rng, jnp.arange(12)))
    epoch = np.arange(12)
    for e in range(3):  # every epoch is a partition: the previous epoch's index array permuted by one pi
        epoch = epoch[pi]
        np.testing.assert_array_equal(order[4 * e:4 * (e + 1)].reshape(-1), epoch)


def test_blines_partition_trains_on_the_same_minibatches_in_every_update():
    import optax

    from benchmarks import blines_equivalence as be
    from benchmarks.blines_partition import PARTITION_KEY, epochs_of_fixed_minibatches
    from jrew.algos import sgd

    data = (jax.random.normal(jax.random.PRNGKey(0), (16, 3)), jax.random.normal(jax.random.PRNGKey(1), (16,)))

    def loss(w, batch, key):  # least squares: each step's result depends on the minibatch order
        x, y = batch
        value = jnp.mean((x @ w - y) ** 2)
        return value, {"loss": value}

    tx, w0 = optax.sgd(0.1), jnp.zeros(3)
    run = lambda fn, key: fn(loss, tx, w0, tx.init(w0), data, key, 2, 4)[0]
    a, b = (run(epochs_of_fixed_minibatches, jax.random.PRNGKey(k)) for k in (2, 3))
    np.testing.assert_array_equal(a, b)  # the update's key does not change the partition
    assert not np.allclose(*(run(sgd.epochs_of_minibatches, jax.random.PRNGKey(k)) for k in (2, 3)))
    w = w0
    for idx in np.asarray(be.blines_minibatch_indices(PARTITION_KEY, 16, 2, 4)):  # their order, step by step
        w = w - 0.1 * jax.grad(lambda w, i=idx: loss(w, (data[0][i], data[1][i]), None)[0])(w)
    np.testing.assert_allclose(a, w, rtol=1e-5)


def test_published_checkpoint_episode_stats_count_lengths_and_time_limits():
    from benchmarks import published_checkpoints as pc

    push_left = pc.episode_stats("CartPole-v1", lambda obs, key: 0, 8, jax.random.PRNGKey(0))
    assert push_left["return"] == push_left["mean_length"] < 20 and push_left["truncated"] == 0.0  # +1 a step, falls
    idle = pc.episode_stats("Acrobot-v1", lambda obs, key: 1, 4, jax.random.PRNGKey(0))  # no torque: never swings up
    assert idle == {"return": -500.0, "mean_length": 500.0, "longest": 500, "truncated": 1.0}

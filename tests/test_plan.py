"""One plan for variants: the same grid from CLI flags, a TOML suite and Python lists; the run
layout; config.json round trips; presets with their pipelines; the reward-constructor registry."""

import importlib
import inspect
import pkgutil
import typing

import numpy as np
import pytest

import jrew
from jrew import bench, cli, presets, runner
from jrew import config as config_lib
from jrew import rewards as R
from jrew.algos import ppo
from jrew.plan import Plan, expand
from jrew.rewards import registry, spec
from jrew.rewards.protocol import RewardTransform

BASE = ppo.PPOConfig(env="gymnax/CartPole-v1", total_steps=4096)
LEARNING_RATES = [3e-4, 1e-3]


def summary(plan: Plan) -> dict:
    """What a plan trains, per run: comparable across the three ways of writing it."""
    return {
        "configs": [config_lib.to_dict(plan.configs[v]) for v in plan.run_variants],
        "rewards": [plan.descriptions[v] for v in plan.run_variants],
        "seeds": plan.run_seeds,
    }


def cli_plan(monkeypatch, *flags) -> Plan:
    """The plan ``jrew train`` hands to the runner (which is stubbed out)."""
    seen = []
    monkeypatch.setattr(runner, "train", lambda plan, **kwargs: seen.append(plan))
    monkeypatch.setattr(cli, "_report", lambda *args: None)
    cli.main(["train", "--env", BASE.env, "--total-steps", str(BASE.total_steps), "--seeds", "2", *flags])
    assert len(seen) == 1, "jrew train did not reach the runner"
    return seen[0]


def suite_plan(tmp_path) -> tuple[Plan, list[str]]:
    (tmp_path / "s.toml").write_text(f"""
seeds = 2
total_steps = {BASE.total_steps}
baseline = "x[scale.factor=1.0,learning_rate=0.0003]"
[envs.cartpole]
env = "{BASE.env}"
score_range = [0, 500]
[variants.x]
reward = "scale(factor=[1.0, 10.0])"
config = {{ learning_rate = {LEARNING_RATES} }}
""")
    suite = bench.load(tmp_path / "s.toml")
    (group,) = suite.groups
    return group.plan(suite.seeds), [v.name for v in group.variants]


def test_the_same_grid_from_cli_flags_a_suite_and_python_lists_gives_identical_plans(tmp_path, monkeypatch):
    from_flags = cli_plan(monkeypatch, "--grid", "learning_rate=3e-4,1e-3", "--reward", "scale(factor=[1.0, 10.0])")
    from_suite, suite_names = suite_plan(tmp_path)
    from_grid = expand(BASE, grid={"learning_rate": LEARNING_RATES}, reward="scale(factor=[1.0, 10.0])", seeds=2)
    # explicit lists: each config point once per reward variant, the rewards repeating along them
    configs = [BASE.replace(learning_rate=lr) for lr in LEARNING_RATES for _ in range(2)]
    from_lists = expand(configs, reward=[R.scale(1.0), R.scale(10.0)], seeds=[0, 1])

    assert summary(from_flags) == summary(from_suite) == summary(from_grid) == summary(from_lists)
    assert from_flags.num_variants == 4 and from_flags.num_runs == 8
    # config-major, the reward varying fastest; the same labels wherever the grid was written
    expected = ["scale.factor=1.0,learning_rate=0.0003", "scale.factor=10.0,learning_rate=0.0003",
                "scale.factor=1.0,learning_rate=0.001", "scale.factor=10.0,learning_rate=0.001"]
    assert list(from_flags.labels) == list(from_grid.labels) == expected
    assert suite_names == [f"x[{label}]" for label in expected]
    assert from_flags.reward_spec == "scale(factor=[1.0, 10.0])"


def test_the_run_layout_is_variant_major_and_read_from_the_plan_alone():
    plan = expand(BASE, grid={"learning_rate": LEARNING_RATES}, seeds=[3, 5, 7])
    assert [plan.run(i) for i in range(plan.num_runs)] == [(0, 3), (0, 5), (0, 7), (1, 3), (1, 5), (1, 7)]
    np.testing.assert_array_equal(plan.run_variants, [0, 0, 0, 1, 1, 1])
    assert plan.run_seeds == [3, 5, 7, 3, 5, 7]
    assert plan.run_labels[4] == "variant 1 seed 5"
    with pytest.raises(ValueError, match=r"run must be an int in \[0, 6\) \(2 variant\(s\) x 3 seed\(s\)\), got 6"):
        plan.run(6)


def test_a_plan_round_trips_through_config_json():
    plan = expand(BASE, grid={"gamma": [0.9, 0.99]}, reward="chain(normalize_returns(), scale(factor=[0.5, 1]))",
                  seeds=2)
    data = plan.to_json("ppo")
    back = Plan.from_json(data, ppo.PPOConfig)
    assert summary(back) == summary(plan) and back.labels == plan.labels and back.reward_spec == plan.reward_spec
    assert back.to_json("ppo") == data
    layout = Plan.from_json(data, ppo.PPOConfig, pipelines=False)  # what an export needs: no pipelines rebuilt
    assert [layout.run(i) for i in range(8)] == [plan.run(i) for i in range(8)] and layout.rewards is None
    built_in_python = expand(BASE, reward=[R.scale(1.0), R.scale(2.0)], seeds=2).to_json("ppo")
    with pytest.raises(ValueError, match=r"was trained with reward .* \(variant 1's factor is 3.0, was 2.0\)"):
        Plan.from_json(built_in_python, ppo.PPOConfig, reward=[R.scale(1.0), R.scale(3.0)])
    assert Plan.from_json(built_in_python, ppo.PPOConfig, reward=[R.scale(1.0), R.scale(2.0)]).num_variants == 2


def test_variants_pair_up_by_one_rule_and_bad_plans_say_why():
    pair = expand([BASE, BASE.replace(gamma=0.9)], reward=[R.scale(1.0), R.scale(2.0)], seeds=1)
    assert pair.descriptions == [R.protocol.describe(R.scale(1.0)), R.protocol.describe(R.scale(2.0))]
    assert [c.gamma for c in pair.configs] == [0.99, 0.9]  # index by index, not a product
    with pytest.raises(ValueError, match="3 config variants and 2 reward variants do not pair up"):
        expand([BASE] * 3, reward=[R.scale(1.0), R.scale(2.0)])
    with pytest.raises(ValueError, match=r"'num_envs' is not a numeric hyperparameter of PPOConfig, so it cannot be "
                                         r"a grid .*gridable: .*learning_rate"):
        expand(BASE, grid={"num_envs": [8, 16]})
    with pytest.raises(ValueError, match="PPOConfig has no field 'learning_rat'"):
        expand(BASE, grid={"learning_rat": [1e-3]})
    with pytest.raises(ValueError, match="static field 'num_envs'"):  # explicit lists: one program or an error
        expand([BASE, BASE.replace(num_envs=8)])
    with pytest.raises(ValueError, match="seeds must be distinct"):
        expand(BASE, seeds=[1, 1])


def test_a_result_reads_its_variants_from_its_plan():
    plan = expand(BASE.replace(total_steps=1024), reward="scale(factor=[1.0, 2.0, 3.0])", seeds=2)
    result = jrew.train(plan, progress=False)
    assert result.plan is plan and result.by_variant("loss").shape == (3, 2, 2)
    np.testing.assert_allclose(result.by_variant("train_return")[2], 3 * result.by_variant("env_return")[2])


def test_a_preset_returns_its_config_and_its_reward_pipeline_together():
    config, reward = presets.preset("auto", ppo.PPOConfig(env="brax/inverted_pendulum"))
    assert config.gamma == 0.97 and reward == "scale(10.0)"  # Brax's reward_scaling
    config, reward = presets.preset("gymnax-blines", ppo.PPOConfig(env="gymnax/CartPole-v1"))
    assert config.activation == "relu" and reward is None


# ---------------------------------------------------------------- the registry of text constructors


def public_constructors():
    """Every public function of jrew.rewards' modules that returns a RewardTransform."""
    found = {}
    for info in pkgutil.iter_modules(R.__path__):
        if info.name in ("spec", "protocol"):
            continue
        module = importlib.import_module(f"jrew.rewards.{info.name}")
        for name, fn in vars(module).items():
            if (not name.startswith("_") and inspect.isfunction(fn) and fn.__module__ == module.__name__
                    and typing.get_type_hints(fn).get("return") is RewardTransform):
                found[f"{fn.__module__}.{fn.__qualname__}"] = fn
    return found


def test_every_constructor_is_registered_for_text_or_says_why_not():
    constructors = public_constructors()
    assert len(constructors) > 35
    unmarked = [where for where, fn in constructors.items()
                if spec.TRANSFORMS.get(fn.__name__) is not fn and where not in registry.PYTHON_ONLY]
    assert not unmarked, f"register with @text_constructor or mark @python_only(reason): {unmarked}"
    assert spec.TRANSFORMS is registry.TEXT and "pbrs" in spec.catalog() and "gail" not in spec.TRANSFORMS
    assert "demonstrations" in registry.PYTHON_ONLY["jrew.rewards.adversarial.gail"]


def test_jrew_rewards_exports_constructors_and_protocol_helpers_live_in_a_submodule():
    helpers = set(R.protocol.__all__) - {"RewardTransform"}
    assert not helpers & set(R.__all__), helpers & set(R.__all__)
    exported = {getattr(R, name) for name in R.__all__}
    assert all(fn in exported for fn in spec.TRANSFORMS.values() if fn.__module__.startswith("jrew."))  # docs register their own
    for name in ("describe", "stack_hparams", "RewardBatch", "streams_of", "as_hparams"):
        assert not hasattr(R, name) and hasattr(R.protocol, name)


def test_a_users_own_constructor_registers_itself_and_its_annotations_are_its_grammar():
    @registry.text_constructor
    def doubled(factor: float = 1.0, label: typing.Literal["a", "b"] = "a") -> RewardTransform:
        return R.scale(2 * factor)

    try:
        variants = spec.parse("doubled(factor=[1, 3])")
        assert [v.label for v in variants] == ["doubled.factor=1", "doubled.factor=3"]
        assert R.protocol.describe(variants[1].transform) == R.protocol.describe(R.scale(6.0))
        with pytest.raises(spec.RewardSpecError, match=r"'label' must be Literal\['a', 'b'\], got 'c'"):
            spec.parse("doubled(label='c')")
    finally:
        registry.TEXT.pop("doubled", None)

    def scale(factor: float = 1.0) -> RewardTransform:  # another constructor under a taken name
        return R.scale(factor)

    with pytest.raises(ValueError, match=r"a reward constructor named 'scale' is already registered "
                                         r"\(jrew.rewards.shaping.scale\)"):
        registry.text_constructor(scale)

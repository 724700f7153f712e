"""What makes a variant a variant: every number it trains with is read from the traced state,
every array it closes over is part of its identity, and a named function is used only on the
envs it was written for. Each of these failed silently once (a run that finishes with plausible,
wrong numbers), so each is tested where it would fail."""

import dataclasses
import inspect
import typing

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jrew
from jrew import demonstrations, runner
from jrew import rewards as R
from jrew.algos import base, pg, ppo
from jrew.bench import suite as bench_suite
from jrew.config import is_numeric
from jrew.rewards import spec

# ---------------------------------------------------------------- numbers: the traced state, never the static copy

TINY_PPO = ppo.PPOConfig(num_envs=4, num_steps=16, num_minibatches=2, num_epochs=2, total_steps=3 * 64,
                         policy_hidden_sizes=(16,), value_hidden_sizes=(16,), learning_rate=3e-3)
TINY_PG = pg.PGConfig(num_groups=2, group_size=2, num_steps=60, episode_length=60, total_steps=3 * 240,
                      num_minibatches=2, num_epochs=2, policy_hidden_sizes=(16,), learning_rate=3e-3)
# An intrinsic stream, so that intrinsic_gamma and the advantage weights take part.
TWO_CRITICS = R.intrinsic(R.counts(num_states=4))

# A second value for every vmappable field, far enough from the default to change a 3-update run.
VARIED = {
    "ppo": {"learning_rate": 1e-2, "gamma": 0.5, "clip_eps": 0.01, "ent_coef": 5.0, "max_grad_norm": 0.01,
            "gae_lambda": 0.0, "vf_coef": 5.0, "intrinsic_gamma": 0.0, "extrinsic_coef": 0.1, "intrinsic_coef": 10.0},
    "pg": {"learning_rate": 1e-2, "gamma": 0.5, "clip_eps": 0.01, "ent_coef": 0.5, "max_grad_norm": 0.01,
           "kl_coef": 5.0, "turning_point_eta": 3.0, "process_reward_beta": 0.5, "process_reward_weight": 5.0,
           "process_reward_learning_rate": 1e-1,
           "reward_weights": ()},  # one per reward component: none here; tests/test_parrot.py varies them
}
# no effect with the case's estimator (grpo) and reward (the env's); tests/test_seq_lab.py varies them with tp_grpo
# and oprl, tests/test_parrot.py with multi_reward
INERT = {"pg": {"turning_point_eta", "process_reward_beta", "process_reward_weight", "process_reward_learning_rate",
                "reward_weights"}}
CASES = {"ppo": (TINY_PPO, TWO_CRITICS), "pg": (TINY_PG, None)}


def numeric_fields(config) -> list[str]:
    return [f.name for f in dataclasses.fields(config) if is_numeric(f)]


@pytest.mark.parametrize("algo", ["ppo", "pg"])
def test_the_varied_values_cover_every_vmappable_field(algo):
    """A new numeric field must join VARIED, so that the variant tests below vary it too."""
    assert sorted(VARIED[algo]) == sorted(numeric_fields(CASES[algo][0]))


@pytest.mark.parametrize("algo", ["ppo", "pg"])
def test_a_learners_static_config_refuses_vmappable_fields(algo):
    """The learner object is variant 0's; a number read from it would be variant 0's for all."""
    config, reward = CASES[algo]
    learner = jrew.algos.by_name(algo).make(config, reward).update.__self__
    for name in VARIED[algo]:
        with pytest.raises(base.TracedFieldError, match=rf"state\.config\.{name}"):
            getattr(learner.config, name)
    assert learner.config.num_minibatches == config.num_minibatches  # static fields and properties read fine
    assert learner.config.num_updates == 3 and learner.config.steps_per_update == config.steps_per_update
    assert learner.config.defaults() is config


def final_params(configs, reward, seeds=(0,)):
    return runner.train(configs, seeds=list(seeds), reward=reward, progress=False).state.params


def final_reward_state(configs, reward):
    return runner.train(configs, seeds=[0], reward=reward, progress=False).state.reward_state


def assert_variant_equals_alone(batched, alone, index, tolerance=2e-5, what="variant"):
    """Variant ``index`` of a batched program equals its own run (to batching's float reordering),
    and differs from variant 0 by far more (so a read of variant 0's number would show)."""
    pick = lambda tree, i: jax.tree.map(lambda x: np.asarray(x[i]), tree)
    got, own, first = pick(batched, index), pick(alone, 0), pick(batched, 0)
    gap = max(float(np.max(np.abs(a - b))) for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(own)))
    moved = max(float(np.max(np.abs(a - b))) for a, b in zip(jax.tree.leaves(own), jax.tree.leaves(first)))
    assert gap < tolerance, f"{what} {index} differs from its run alone by {gap}"
    assert moved > 50 * tolerance, f"{what} {index} barely changes the run ({moved}): the test could not fail"


@pytest.mark.parametrize("algo", ["ppo", "pg"])
def test_a_variant_that_differs_in_every_vmappable_field_equals_its_run_alone(algo):
    """Variant 1 changes every numeric field at once; in one program with variant 0 it must
    train exactly as it does as the only variant (whose static config then holds its numbers)."""
    config, reward = CASES[algo]
    other = config.replace(**VARIED[algo])
    batched = final_params([config, other], reward)
    assert_variant_equals_alone(batched, final_params(other, reward), 1)


@pytest.mark.slow  # one compile per field (about 1 min)
@pytest.mark.parametrize("algo", ["ppo", "pg"])
def test_each_vmappable_field_varied_alone_equals_its_run_alone(algo):
    config, reward = CASES[algo]
    varied = {name: value for name, value in VARIED[algo].items() if name not in INERT.get(algo, ())}
    variants = [config] + [config.replace(**{name: value}) for name, value in varied.items()]
    batched = final_params(variants, reward)
    for i, (variant, name) in enumerate(zip(variants[1:], varied), start=1):
        assert_variant_equals_alone(batched, final_params(variant, reward), i, what=f"the {name} variant")


# ---------------------------------------------------------------- data: part of the identity, per variant

CARTPOLE = ppo.PPOConfig(num_envs=4, num_steps=16, num_minibatches=2, num_epochs=1, total_steps=2 * 64,
                         policy_hidden_sizes=(16,), value_hidden_sizes=(16,))


def cartpole_demos(seed: int, steps: int = 60) -> demonstrations.Demonstrations:
    """``steps`` steps of random CartPole-like data (4 obs dims, 2 actions), as one episode."""
    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(steps, 4)).astype(np.float32)
    action = rng.integers(0, 2, steps).astype(np.int32)
    return demonstrations.Demonstrations(obs, action, obs, np.ones(steps, np.float32), np.array([steps], np.float32),
                                         np.array([steps], np.int32), "gymnax/CartPole-v1")


def preference_pairs(seed: int, pairs: int = 16, length: int = 4) -> R.PreferenceSet:
    rng = np.random.default_rng(seed)
    inputs = rng.normal(size=(2, pairs, length, 6)).astype(np.float32)  # CartPole: 4 obs + 2 one-hot actions
    return R.PreferenceSet(inputs, np.ones((2, pairs, length), np.float32), (rng.random(pairs) < 0.5) * 1.0)


def test_data_shows_in_the_description_by_content():
    a, b = cartpole_demos(0), cartpole_demos(1)
    text_a, text_b = R.protocol.describe(R.gail(a)), R.protocol.describe(R.gail(b))
    assert text_a != text_b and "demonstrations=sha256:" in text_a and "[60 steps]" in text_a
    assert R.protocol.describe(R.gail(cartpole_demos(0))) == text_a  # equal content, equal identity
    offline = R.protocol.describe(R.preference_model(preferences=preference_pairs(0), segment_length=4))
    assert "preferences=sha256:" in offline and "[16 pairs]" in offline
    assert offline != R.protocol.describe(R.preference_model(preferences=preference_pairs(1), segment_length=4))


@pytest.mark.parametrize("make", [
    pytest.param(lambda seed: R.gail(cartpole_demos(seed), minibatch_size=16, hidden_sizes=(8,)), id="gail"),
    # the same Data leaf as GAIL's; slow only to keep the default suite's compile time down
    pytest.param(lambda seed: R.preference_model(preferences=preference_pairs(seed), segment_length=4,
                                                 pretrain_steps=5, minibatch_pairs=8, hidden_sizes=(8,)),
                 id="offline_preferences", marks=pytest.mark.slow),
])
def test_variants_with_different_data_each_train_on_their_own(make):
    """[gail(demos_a), gail(demos_b)] is one program in which variant 1 runs on demos B: its learned
    reward (and all its state) equals its run alone, and differs from variant 0's."""
    batched = final_reward_state(CARTPOLE, [make(0), make(1)])
    assert_variant_equals_alone(batched, final_reward_state(CARTPOLE, make(1)), 1)


def test_data_of_different_sizes_cannot_share_a_program():
    with pytest.raises(ValueError, match=r"shape of hparam 'demonstrations.*data of different sizes"):
        R.protocol.stack_hparams([R.gail(cartpole_demos(0, 60)), R.gail(cartpole_demos(0, 50))])


def test_resume_with_other_data_is_refused(tmp_path):
    run_dir = tmp_path / "gail"
    runner.train(CARTPOLE, seeds=1, run_dir=run_dir, reward=R.gail(cartpole_demos(0)), until_update=1,
                 progress=False)
    with pytest.raises(ValueError, match=r"was trained with reward .*\(demonstrations is sha256:\w+\[60 steps\], was sha256:"):
        runner.resume(run_dir, reward=R.gail(cartpole_demos(1)), progress=False)


def closure_over(array):
    w = jnp.asarray(array, jnp.float32)
    return lambda obs: jnp.sum(obs.reshape(-1)[: w.shape[0]] * w)


# Every constructor argument that can hold an array, and how to build the transform from one. Functions
# reach arrays through closures and defaults, the arrays or the closures over them (both are checked).
DATA_ARGUMENTS = {
    ("counts", "index"): lambda a: R.counts(4, index=lambda obs, f=closure_over(a): jnp.int32(f(obs) > 0)),  # noqa: B008
    ("episodic_knn", "embed"): lambda a: R.episodic_knn(embed=lambda obs, f=closure_over(a): obs * f(obs)),  # noqa: B008
    ("novelty_search", "descriptor"): lambda a: R.novelty_search(lambda obs, w=np.asarray(a): obs * w[0]),  # noqa: B008
    ("pbrs", "potential"): lambda a: R.pbrs(closure_over(a)),
    ("subgoal_bonus", "predicate"): lambda a: R.subgoal_bonus(closure_over(a)),
    ("gail", "demonstrations"): lambda a: R.gail(cartpole_demos(int(a[0]))),
    ("preference_model", "preferences"): lambda a: R.preference_model(preferences=preference_pairs(int(a[0])),
                                                                      segment_length=4),
}
PROTOCOL_HELPERS = {"transform", "stateless", "per_env_recurrence", "bonus_transform"}  # their identity is `static`


def constructors() -> dict:
    """Every public function of jrew.rewards that builds a RewardTransform, but the protocol helpers."""
    out = {}
    for name in R.__all__:
        fn = getattr(R, name)
        if (inspect.isfunction(fn) and name not in PROTOCOL_HELPERS
                and typing.get_type_hints(fn).get("return") is R.RewardTransform):
            out[name] = fn
    return out


def can_hold_data(hint) -> bool:
    text = str(hint)
    return hint is typing.Any or any(t in text for t in ("Callable", "Demonstrations", "PreferenceSet", "Array",
                                                         "ndarray"))


def test_every_constructor_argument_that_takes_data_reaches_the_identity():
    """Walks the constructors: each argument that can hold an array (a function closing over one,
    demonstrations, preference sets) is in DATA_ARGUMENTS, and two arrays give two descriptions."""
    found = set()
    for name, fn in constructors().items():
        hints = spec._hints(fn)
        for p in inspect.signature(fn).parameters.values():
            hint = hints.get(p.name, typing.Any)
            if can_hold_data(hint) and not spec._is_transform_type(hint):
                found.add((name, p.name))
    assert found == set(DATA_ARGUMENTS), f"untested data arguments: {found - set(DATA_ARGUMENTS)}"
    for (name, arg), make in DATA_ARGUMENTS.items():
        one, two = R.protocol.describe(make(np.array([0.0, 1.0]))), R.protocol.describe(make(np.array([1.0, 2.0])))
        assert one != two, f"{name}({arg}=...) with other data describes the same: {one}"


# ---------------------------------------------------------------- named functions: only on their envs

WRONG_ENV = [("lab/deep_sea", "pbrs(potential=point_mass.distance, coef=0.5)", "lab/point_goal"),
             ("gymnax/CartPole-v1", "pbrs(potential=deep_sea.column)", "lab/deep_sea"),
             ("lab/deep_sea", "subgoal_bonus(predicate=boat_race.lap_done)", "lab/boat_race")]


@pytest.mark.parametrize("env,reward,home", WRONG_ENV)
def test_a_named_function_of_another_env_is_refused(env, reward, home):
    config = ppo.PPOConfig(env=env, total_steps=512)
    with pytest.raises(ValueError, match=rf"reads observations of .*{home}.*, not {env}"):
        runner.train(config, seeds=1, reward=reward, progress=False)


def test_a_named_function_on_its_own_env_trains_and_bench_check_refuses_the_others(tmp_path):
    ppo.make(ppo.PPOConfig(env="lab/deep_sea", env_kwargs=(("size", "8"),)), spec.parse_one(
        "pbrs(potential=deep_sea.column, coef=0.5)"))
    suite = tmp_path / "suite.toml"
    suite.write_text('seeds = 1\ntotal_steps = 512\n[envs.sea]\nenv = "lab/deep_sea"\nscore_range = [0, 1]\n'
                     '[variants.ppo]\nreward = "identity()"\n'
                     '[variants.pbrs]\nreward = "pbrs(potential=point_mass.distance, coef=0.5)"\n')
    with pytest.raises(bench_suite.SuiteError, match=r"variants.pbrs on envs.sea: .*point_mass.distance reads "
                                                     r"observations of lab/point_goal"):
        bench_suite.load(suite)

"""Learning runs (slow): the agent must actually learn. Run with `pytest -m slow`."""

import numpy as np
import pytest

import jrew
from jrew.algos import ppo

pytestmark = pytest.mark.slow


def test_ppo_cartpole_16_seeds_reach_475_within_500k_steps():
    result = jrew.train(ppo.PPOConfig(env="gymnax/CartPole-v1", total_steps=500_000), seeds=16, progress=False)
    assert result.env_steps[-1] <= 500_000
    final = result.final("true_return")
    print(f"CartPole final true return: mean {final.mean():.1f}, min {final.min():.1f}")
    assert final.mean() >= 475, final


PENDULUM = ppo.PPOConfig(
    env="gymnax/Pendulum-v1",
    total_steps=1_000_000,
    num_envs=16,
    num_steps=128,
    num_epochs=10,
    num_minibatches=32,
    normalize_observations=True,
    ent_coef=0.0,
    learning_rate=1e-3,
    gamma=0.95,
)


def test_ppo_pendulum_8_seeds_swing_up():
    """Random policy: about -1200; threshold -250 (swung up and balanced most of the episode)."""
    result = jrew.train(PENDULUM, seeds=8, progress=False)
    final = result.final("true_return")
    print(f"Pendulum final true return: mean {final.mean():.1f}, min {final.min():.1f}")
    assert np.mean(final) >= -250, final


def test_pbrs_with_a_good_potential_speeds_learning_on_sparse_deepsea():
    """DeepSea size 10: PBRS (column potential) must learn sooner and end no lower than no shaping."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parents[1] / "experiments"))
    import pbrs_deepsea

    result = pbrs_deepsea.run(size=10, seeds=8, total_steps=300_000, run_dir=None, progress=False)
    plain, shaped = pbrs_deepsea.summarize(result)
    print(plain, shaped, sep="\n")
    assert shaped["final_true_return"] >= plain["final_true_return"]
    assert shaped["final_true_return"] >= 0.9
    assert shaped["mean_true_return_over_training"] > plain["mean_true_return_over_training"] + 0.2
    assert shaped["env_steps_to_mean_threshold"] is not None


@pytest.mark.parametrize("estimator", ["rloo", "grpo"])
def test_critic_free_learners_solve_cartpole(estimator):
    """8 seeds, groups of 8 episodes from shared start states; threshold: mean true return >= 475
    within 1M simulated env steps per seed (masked steps after episode ends included)."""
    from jrew.algos import pg

    result = jrew.train(pg.PGConfig(estimator=estimator, total_steps=1_000_000), seeds=8, progress=False)
    final = result.final("true_return")
    print(f"{estimator} CartPole final true return: mean {final.mean():.1f}, min {final.min():.1f}")
    assert final.mean() >= 475, final


@pytest.mark.slow
def test_ppo_on_the_boat_race_visible_reward_hacks_it():
    """The env doing its job: visible return rises to farming level while true return stays ~0."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parents[1] / "experiments"))
    import boat_race_hacking

    result = boat_race_hacking.run(seeds=8, total_steps=300_000, run_dir=None, progress=False)
    visible, oracle = boat_race_hacking.summarize(result)
    # Trained on the visible reward: every seed farms (the lap's visible return is only 5).
    assert visible["final_visible_return_min"] >= 40 and visible["final_visible_return"] > 2 * visible["initial_visible_return"]
    assert visible["final_true_return_max"] <= 0.1 and visible["final_unsafe_step_fraction"] >= 0.3
    # The control trained on the true reward finishes laps: the gap is the reward's, not PPO's.
    assert oracle["final_true_return"] >= 0.5 and oracle["final_unsafe_step_fraction"] <= 0.1


def test_ppo_on_the_faithful_boat_race_farms_where_a_lap_ties_on_visible_reward():
    """aisg/boat_race (AI Safety Gridworlds): a lap and back-and-forth both pay 0.5 per step
    visible; PPO on the visible reward reaches the maximum (50) and farms (hidden ~0), the
    oracle on the hidden performance laps (hidden ~100) for the same visible 50. 8 seeds x 300k:
    visible 50.0, hidden 0.9 (best 2.5); oracle hidden 99.6 (README)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parents[1] / "experiments"))
    import boat_race_hacking

    result = boat_race_hacking.run(seeds=8, total_steps=300_000, run_dir=None, progress=False, env="aisg/boat_race")
    visible, oracle = boat_race_hacking.summarize(result)
    assert visible["final_visible_return_min"] >= 45 and visible["final_true_return_max"] <= 20
    assert oracle["final_true_return"] >= 90 and oracle["final_visible_return"] >= 45


def test_exploration_bonuses_solve_deepsea_20_where_plain_ppo_does_not():
    """DeepSea size 20, 8 seeds x 300k steps each (the experiment's config, ent_coef 0.05): PPO +
    counts and PPO + RND (intrinsic critic) solve (final true return >= 0.9) in >= 6/8 seeds;
    plain PPO in <= 1/8. (16 seeds: counts 14, RND 12, PPO 0; see the README.)"""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parents[1] / "experiments"))
    import deep_exploration
    import method_comparison

    methods = {m: b for m, b in deep_exploration.bonuses("lab/deep_sea", 20).items() if m in ("ppo", "counts", "rnd")}
    config = deep_exploration.config("lab/deep_sea", 20, 300_000)
    results = method_comparison.train_methods(config, methods, seeds=8, run_root=None, progress=False)
    solved = {row["method"]: row["seeds_solved"] for row in deep_exploration.summarize(results, 0.9)}
    print(solved)
    assert solved["counts"] >= 6 and solved["rnd"] >= 6 and solved["ppo"] <= 1, solved


def test_preference_model_and_return_decomposition_learn_cartpole():
    """8 seeds x 500k steps each. PPO on an online preference model (2000 synthetic labels) reaches
    >= 80% of true-reward PPO's final true return; PPO on the decomposed delayed reward beats PPO on
    the delayed reward by 5x and reaches 200."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parents[1] / "experiments"))
    import method_comparison
    import preference_rl
    import return_decomposition

    config = ppo.PPOConfig(total_steps=500_000)
    prefs = method_comparison.train_methods(config, preference_rl.methods("gymnax/CartPole-v1", [2000]), 8, None, False)
    final = {m: r.final("true_return").mean() for m, r in prefs.items()}
    delayed = method_comparison.train_methods(config, {k: v for k, v in return_decomposition.METHODS.items()
                                                       if k.startswith("delayed")}, 8, None, False)
    final.update({m: r.final("true_return").mean() for m, r in delayed.items()})
    print(final)
    assert final["preference model"] >= 0.8 * final["true reward"], final
    decomposed = final["delayed + return decomposition"]
    assert decomposed >= 200 and decomposed >= 5 * final["delayed reward"], final


def test_gail_imitates_a_cartpole_expert_from_5_episodes(tmp_path):
    """An expert (PPO, 500k steps) records 5 episodes; PPO on GAIL's reward alone (never the env
    reward), 8 seeds x 500k steps, must reach >= 80% of the expert's true return, and its
    discriminator must have been fooled towards chance (accuracy < 0.9 at the end)."""
    from jrew import demonstrations
    from jrew import rewards as R

    config = ppo.PPOConfig(env="gymnax/CartPole-v1", total_steps=500_000)
    jrew.train(config, seeds=1, run_dir=tmp_path / "expert", progress=False)
    demos = demonstrations.record(tmp_path / "expert", 5, seed=12345)
    result = jrew.train(config, seeds=8, reward=R.chain(R.gail(demos), R.normalize_returns()), progress=False)
    final = result.final("true_return")
    accuracy = result.metrics["reward/0_gail/discriminator_accuracy"][:, -10:].mean()
    print(f"GAIL CartPole: expert {demos.mean_return:.1f}, final {final.mean():.1f} (min {final.min():.1f}), "
          f"discriminator accuracy {accuracy:.2f}")
    assert final.mean() >= 0.8 * demos.mean_return, final
    assert accuracy < 0.9


def test_grpo_from_the_reference_raises_addition_accuracy():
    """The sequence lab's headline: GRPO from a reference pretrained on noisy demonstrations
    (exact-match accuracy about 0.34) raises 2-digit addition's accuracy. 16 seeds x 100 updates of
    8 prompts x 8 completions (experiments/seq_lab.py's settings, fewer updates): the mean gain
    must be at least 0.25 and every seed must gain (the 150-update experiment measured +0.48)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parents[1] / "experiments"))
    import seq_lab

    args = type("Args", (), {"num_groups": 8, "group_size": 8, "learning_rate": 3e-4, "sft_steps": None,
                             "sft_noise": 0.3})
    config = seq_lab.method_configs(seq_lab.lab_config("addition", 100, args), ["grpo"], [0.0])["grpo"]
    accuracy = jrew.train(config, seeds=16, progress=False).metrics["true_return"]
    initial, final = accuracy[:, :3].mean(axis=1), accuracy[:, -10:].mean(axis=1)
    print(f"seq/addition GRPO accuracy {initial.mean():.3f} -> {final.mean():.3f}")
    assert 0.2 < initial.mean() < 0.5, initial  # the reference's set competence: room to improve
    assert (final - initial).mean() >= 0.25 and (final > initial).all(), (initial, final)

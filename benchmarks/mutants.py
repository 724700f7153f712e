"""Mutation testing of jrew's core math: does the default test suite catch a small, plausible bug?

Each mutant replaces one snippet of the code (a sign, a ``min``/``max``, a forgotten flag, a
dropped mask) in a throwaway copy of the working tree and runs the default-suite tests meant to
catch it. A mutant is *killed* when those tests fail, *survived* when they pass. Every mutant
here must be killed; a survivor is a bug the suite would let through.

  python -m benchmarks.mutants                      # all mutants -> benchmarks/results/mutants.{csv,json}
  python -m benchmarks.mutants --only ppo_surrogate_sign gae_cut_at_truncations
  python -m benchmarks.mutants --list               # the mutants and the tests each runs

``tests/test_mutants.py`` checks, in the default suite, that every snippet still occurs exactly
once in the code (so the list cannot rot silently); this script does the slow part.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from jrew.provenance import write_json

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


@dataclasses.dataclass(frozen=True)
class Mutant:
    name: str
    path: str  # relative to the repository root
    before: str  # must occur exactly once in path
    after: str
    tests: tuple[str, ...]  # pytest node ids or files, all in the default suite
    why: str = ""

    def apply(self, root: Path) -> None:
        file = root / self.path
        text = file.read_text()
        count = text.count(self.before)
        if count != 1:
            raise ValueError(f"mutant {self.name}: {self.path} holds the snippet {count} times, expected once: "
                             f"{self.before!r}")
        file.write_text(text.replace(self.before, self.after))


M = Mutant
MUTANTS: tuple[Mutant, ...] = (
    # ------------------------------------------------------------------ returns and advantages
    M("gae_cut_at_truncations", "jrew/advantages.py",
      "deltas = rewards + gamma * (1.0 - terminated) * next_values - values",
      "deltas = rewards + gamma * (1.0 - done) * next_values - values",
      ("tests/test_advantages.py",), "a truncation must bootstrap from V(s'), not cut the return"),
    M("gae_ignores_done", "jrew/advantages.py",
      "continues = gamma * lambda_ * (1.0 - done)", "continues = gamma * lambda_",
      ("tests/test_advantages.py",), "the advantage must not flow across an episode's end"),
    M("gae_lambda_ignored", "jrew/advantages.py",
      "continues = gamma * lambda_ * (1.0 - done)", "continues = gamma * (1.0 - done)",
      ("tests/test_advantages.py",)),
    M("lambda_returns_bootstrap_weight", "jrew/advantages.py",
      "g = r + d * ((1.0 - lam) * v + lam * g)", "g = r + d * (lam * v + (1.0 - lam) * g)",
      ("tests/test_advantages.py",)),
    M("grpo_std_ddof_1", "jrew/advantages.py",
      "centred / (returns.std(axis=-1, keepdims=True) + eps)",
      "centred / (returns.std(axis=-1, keepdims=True, ddof=1) + eps)",
      ("tests/test_advantages.py",), "GRPO uses the population std of the group"),
    M("rloo_divides_by_g", "jrew/advantages.py",
      "return returns - (total - returns) / (G - 1)", "return returns - (total - returns) / G",
      ("tests/test_advantages.py",)),
    M("combine_advantages_swapped", "jrew/advantages.py",
      "return extrinsic_coef * extrinsic + intrinsic_coef * intrinsic",
      "return intrinsic_coef * extrinsic + extrinsic_coef * intrinsic",
      ("tests/test_advantages.py",)),
    # ------------------------------------------------------------------ losses
    M("ppo_surrogate_sign", "jrew/algos/losses.py",
      "loss = -mean(jnp.minimum(ratio * advantage, clipped * advantage))",
      "loss = mean(jnp.minimum(ratio * advantage, clipped * advantage))",
      ("tests/test_core_math.py::test_clipped_surrogate_by_hand",), "the loss ascends the advantage-weighted likelihood"),
    M("ppo_surrogate_max", "jrew/algos/losses.py",
      "loss = -mean(jnp.minimum(ratio * advantage, clipped * advantage))",
      "loss = -mean(jnp.maximum(ratio * advantage, clipped * advantage))",
      ("tests/test_core_math.py::test_clipped_surrogate_by_hand",), "the pessimistic bound is the min"),
    M("ppo_clip_range_doubled", "jrew/algos/losses.py",
      "clipped = jnp.clip(ratio, 1.0 - clip_eps, 1.0 + clip_eps)",
      "clipped = jnp.clip(ratio, 1.0 - clip_eps, 1.0 + 2 * clip_eps)",
      ("tests/test_core_math.py::test_clipped_surrogate_by_hand",)),
    M("k3_kl_sign", "jrew/algos/losses.py",
      "return jnp.exp(log_ratio) - log_ratio - 1.0", "return jnp.exp(log_ratio) + log_ratio - 1.0",
      ("tests/test_core_math.py::test_k3_kl_by_hand",)),
    M("ppo_value_clip_min", "jrew/algos/ppo.py",
      "value_error = jnp.maximum(value_error, (value_clipped - target) ** 2)",
      "value_error = jnp.minimum(value_error, (value_clipped - target) ** 2)",
      ("tests/test_core_math.py::test_ppo_loss_by_hand_value_clip_and_entropy",)),
    M("ppo_entropy_sign", "jrew/algos/ppo.py",
      "loss = policy_loss + cfg.vf_coef * value_loss - cfg.ent_coef * entropy",
      "loss = policy_loss + cfg.vf_coef * value_loss + cfg.ent_coef * entropy",
      ("tests/test_core_math.py::test_ppo_loss_by_hand_value_clip_and_entropy",)),
    # ------------------------------------------------------------------ learners' wiring
    M("ppo_done_as_terminated", "jrew/algos/ppo.py",
      "config.advantage_estimator, traj.reward, traj.value, data.next_values, traj.terminated,\n"
      "                traj.truncated,",
      "config.advantage_estimator, traj.reward, traj.value, data.next_values, traj.done,\n"
      "                jnp.zeros_like(traj.truncated),",
      ("tests/test_core_math.py::test_ppo_advantages_on_a_hand_rollout_with_a_truncation_and_a_termination",), "a truncation is not a termination"),
    M("ppo_ignores_estimator", "jrew/algos/ppo.py",
      "config.advantage_estimator, traj.reward, traj.value", "\"gae\", traj.reward, traj.value",
      ("tests/test_core_math.py::test_ppo_advantages_on_a_hand_rollout_with_a_truncation_and_a_termination",)),
    M("ppo_intrinsic_not_bootstrapped_across_resets", "jrew/algos/ppo.py",
      "next_values = jnp.where(traj.done > 0, jnp.concatenate([values[1:], last[None]]), next_values)",
      "next_values = next_values",
      ("tests/test_core_math.py::test_ppo_intrinsic_stream_has_its_own_discount_and_runs_on_across_episode_ends",), "a non-episodic return flows into the next episode's start"),
    M("ppo_intrinsic_uses_extrinsic_gamma", "jrew/algos/ppo.py",
      "gamma = cfg.intrinsic_gamma", "gamma = cfg.gamma",
      ("tests/test_core_math.py::test_ppo_intrinsic_stream_has_its_own_discount_and_runs_on_across_episode_ends",)),
    M("pg_ignores_normalize_std", "jrew/algos/pg.py",
      "adv.grpo_advantages(grouped, config.normalize_std)", "adv.grpo_advantages(grouped)",
      ("tests/test_core_math.py::test_pg_group_advantages_honour_the_estimator_and_normalize_std",), "Dr. GRPO drops the std"),
    M("pg_ignores_filter_zero_variance", "jrew/algos/pg.py",
      "if config.filter_zero_variance else 1.0", "if False else 1.0",
      ("tests/test_core_math.py::test_pg_filter_zero_variance_drops_groups_without_signal_from_the_loss",)),
    M("pg_undiscounted_returns", "jrew/algos/pg.py",
      "discounts = gamma ** jnp.arange(reward.shape[0], dtype=jnp.float32)[:, None]",
      "discounts = jnp.ones((reward.shape[0], 1), jnp.float32)",
      ("tests/test_core_math.py::test_pg_returns_are_discounted_from_each_slots_first_step",)),
    M("pg_kl_sign", "jrew/algos/pg.py",
      "loss = surrogate + in_loss * cfg.kl_coef * kl - cfg.ent_coef * entropy",
      "loss = surrogate - in_loss * cfg.kl_coef * kl - cfg.ent_coef * entropy",
      ("tests/test_core_math.py::test_pg_loss_adds_the_kl_to_the_reference",)),
    # ------------------------------------------------------------------ reward transforms
    M("pbrs_keeps_phi_at_termination", "jrew/rewards/potential.py",
      "return gamma * phi_next * (1.0 - terminated) - phi_s", "return gamma * phi_next - phi_s",
      ("tests/test_rewards.py::test_pbrs_hand_case_terminated_vs_truncated",), "Ng et al.: Phi of a terminal state is 0"),
    M("bradley_terry_label_flipped", "jrew/rewards/preferences.py",
      "return -(label * jax.nn.log_sigmoid(logit) + (1.0 - label) * jax.nn.log_sigmoid(-logit))",
      "return -((1.0 - label) * jax.nn.log_sigmoid(logit) + label * jax.nn.log_sigmoid(-logit))",
      ("tests/test_preferences.py::test_bradley_terry_loss_by_hand",)),
    M("preference_pairs_swapped", "jrew/rewards/preferences.py",
      "r = [segment_return(p, pairs[\"inputs\"][i, s], pairs[\"mask\"][i, s]) for s in (0, 1)]",
      "r = [segment_return(p, pairs[\"inputs\"][i, s], pairs[\"mask\"][i, s]) for s in (1, 0)]",
      ("tests/test_core_math.py::test_an_offline_preference_model_learns_a_reward_that_varies_by_state",)),
    M("reward_model_ignores_the_state", "jrew/rewards/learned.py",
      "return jnp.concatenate([features(obs, num_leading), second], axis=-1)",
      "return jnp.concatenate([0.0 * features(obs, num_leading), second], axis=-1)",
      ("tests/test_core_math.py::test_a_reward_model_sees_the_state_and_the_action",), "a constant model must not pass the offline preference test"),
    M("gail_pays_softplus_of_minus_f", "jrew/rewards/adversarial.py",
      "reward = jax.nn.softplus(net.apply(trained.params, x)[..., 0])",
      "reward = jax.nn.softplus(-net.apply(trained.params, x)[..., 0])",
      ("tests/test_core_math.py::test_gail_pays_minus_log_one_minus_d_of_the_updated_discriminator",)),
    M("return_decomposition_ascends", "jrew/rewards/preferences.py",
      "return jnp.sum(ended * error**2) / jnp.maximum(ended.sum(), 1), ()",
      "return -jnp.sum(ended * error**2) / jnp.maximum(ended.sum(), 1), ()",
      ("tests/test_core_math.py::test_return_decomposition_descends_its_loss",)),
    M("rnd_return_cut_at_episode_ends", "jrew/rewards/exploration.py",
      "state[\"returns\"], state[\"return_stats\"], error, batch, hp[\"eps\"], hp[\"gamma\"], episodic=False",
      "state[\"returns\"], state[\"return_stats\"], error, batch, hp[\"eps\"], hp[\"gamma\"], episodic=True",
      ("tests/test_exploration.py::test_rnd_normalizes_by_the_running_std_of_the_nonepisodic_intrinsic_return",)),
    M("rnd_skips_observation_whitening", "jrew/rewards/exploration.py",
      "x = normalization.normalize(obs_stats, obs, hp[\"obs_clip\"]) if normalize else obs",
      "x = obs",
      ("tests/test_core_math.py::test_rnd_whitens_observations_so_its_first_bonus_ignores_their_scale",)),
    M("counts_one_over_n", "jrew/rewards/exploration.py",
      "b = 1.0 / jnp.sqrt(jnp.maximum(n, 1).astype(jnp.float32))",
      "b = 1.0 / jnp.maximum(n, 1).astype(jnp.float32)",
      ("tests/test_exploration.py::test_global_counts_equal_coef_over_sqrt_n_after_the_rollout",)),
    M("ring_pointer_capped_at_capacity", "jrew/rewards/ring.py",
      "slot = jnp.where(survives, (self.written + order) % self.capacity, self.capacity)",
      "slot = jnp.where(survives, (self.size + order) % self.capacity, self.capacity)",
      ("tests/test_ring.py",), "the defect that froze the preference buffer once full"),
    M("knn_memory_reset_at_an_invalid_step", "jrew/rewards/exploration.py",
      "ended = (done > 0) & (v > 0)  # an invalid step is no step: its done does not end the episode",
      "ended = done > 0",
      ("tests/test_exploration.py::test_episodic_knn_ignores_an_episode_end_at_an_invalid_step",)),
    M("gae_cut_by_terminated_only", "jrew/advantages.py",
      "done = jnp.maximum(terminated, truncated)\n        return generalized_advantage_estimation(",
      "done = terminated\n        return generalized_advantage_estimation(",
      ("tests/test_advantages.py",), "an advantage must not flow across a truncation either"),
    # ------------------------------------------------------------------ resume
    M("resume_reseeds_the_key", "jrew/runner.py",
      "return loop, program.place(loop.checkpoints.restore(step, program.abstract_state(), program.initial_config)), step",
      "return loop, program.place(loop.checkpoints.restore(step, program.abstract_state(), program.initial_config)).replace("
      "key=program.initial_state().key), step",
      ("tests/test_runner.py::test_pause_and_resume_gives_identical_final_params",)),
    M("resume_restarts_normalization_statistics", "jrew/runner.py",
      "return loop, program.place(loop.checkpoints.restore(step, program.abstract_state(), program.initial_config)), step",
      "return loop, program.place(loop.checkpoints.restore(step, program.abstract_state(), program.initial_config)).replace("
      "obs_stats=program.initial_state().obs_stats, value_stats=program.initial_state().value_stats), step",
      ("tests/test_runner.py::test_resume_keeps_normalization_statistics_and_the_initial_policy",)),
    # ------------------------------------------------------------------ the sequence lab
    M("tempo_branch_credit_dropped", "jrew/advantages.py",
      "advantage = returns[:, None] - returns.mean() + correction",
      "advantage = returns[:, None] - returns.mean() + 0.0 * correction",
      ("tests/test_seq_lab.py::test_prefix_tree_credit_equals_a_hand_built_tree",), "TEMPO without its prefix-tree term is GRPO"),
    M("tp_first_step_not_a_turning_point", "jrew/advantages.py",
      "turning = jnp.concatenate([trend[:, :1] > 0,", "turning = jnp.concatenate([trend[:, :1] > 1,",
      ("tests/test_seq_lab.py::test_turning_points_and_their_advantages_on_a_hand_case",), "op3 applies the first-step bonus"),
    M("tp_turning_direction_reversed", "jrew/advantages.py",
      "(trend[:, :-1] < 0) & (trend[:, 1:] > 0)", "(trend[:, :-1] > 0) & (trend[:, 1:] < 0)",
      ("tests/test_seq_lab.py::test_turning_points_and_their_advantages_on_a_hand_case",)),
    M("tp_normalized_over_steps", "jrew/advantages.py",
      "advantage = reward - reward.mean(axis=0)", "advantage = reward - reward.mean(axis=1, keepdims=True)",
      ("tests/test_seq_lab.py::test_turning_points_and_their_advantages_on_a_hand_case",), "normalized per step index over the group"),
    M("oprl_step_credit_dropped", "jrew/advantages.py",
      "return grpo_advantages(returns, normalize_std)[:, None] + weight * step",
      "return grpo_advantages(returns, normalize_std)[:, None] + 0.0 * weight * step",
      ("tests/test_seq_lab.py::test_implicit_process_rewards_preferences_and_advantages_on_a_hand_case",),
      "OPRL without its step term is GRPO"),
    M("oprl_step_statistics_count_padding", "jrew/advantages.py",
      "mean = jnp.sum(own) / count", "mean = jnp.mean(step_rewards)",
      ("tests/test_seq_lab.py::test_implicit_process_rewards_preferences_and_advantages_on_a_hand_case",)),
    M("oprl_preference_reversed", "jrew/algos/losses.py",
      "preferred = (outcomes[..., :, None] - outcomes[..., None, :] > tolerance)",
      "preferred = (outcomes[..., None, :] - outcomes[..., :, None] > tolerance)",
      ("tests/test_seq_lab.py::test_implicit_process_rewards_preferences_and_advantages_on_a_hand_case",)),
    M("oprl_reward_model_never_steps", "jrew/algos/pg.py",
      "stepped = (optax.apply_updates(params, updates), new_opt_state)",
      "stepped = (params, new_opt_state)",
      ("tests/test_seq_lab.py::test_oprl_advantages_come_from_the_process_reward_model_after_its_steps_on_the_batch",)),
    M("oprl_advantages_from_the_model_before_its_steps", "jrew/algos/pg.py",
      "advantage = credit(step_rewards(model[0]),", "advantage = credit(step_rewards(state.process_reward_model[0]),",
      ("tests/test_seq_lab.py::test_oprl_advantages_come_from_the_process_reward_model_after_its_steps_on_the_batch",),
      "the paper scores the batch with the model it has just updated"),
    M("oprl_preferences_from_the_kl_penalized_returns", "jrew/algos/pg.py",
      "state, cfg, *jax.tree.map(by_episode, (traj.obs, traj.action, traj.log_prob, mask)), returns, outcomes)",
      "state, cfg, *jax.tree.map(by_episode, (traj.obs, traj.action, traj.log_prob, mask)), returns, returns)",
      ("tests/test_seq_lab.py::test_the_kl_penalty_goes_into_the_reward_or_the_loss",)),
    M("prefix_replay_one_step_long", "jrew/algos/pg.py",
      "action = jnp.where(t < k, recorded, greedy_action(state.obs))",
      "action = jnp.where(t <= k, recorded, greedy_action(state.obs))",
      ("tests/test_seq_lab.py::test_prefix_returns_replay_the_recorded_steps_then_complete_greedily",)),
    M("sequence_mean_counts_empty_sequences", "jrew/algos/losses.py",
      "return jnp.sum(per_sequence) / jnp.maximum(jnp.sum(tokens > 0), 1.0)",
      "return jnp.sum(per_sequence) / per_sequence.shape[0]",
      ("tests/test_seq_lab.py::test_loss_aggregations_follow_their_formulas",)),
    # ------------------------------------------------------------------ multi-reward combination (Parrot, GDPO)
    M("pareto_mask_inverted", "jrew/algos/pg.py",
      "keep = adv.non_dominated(weighted).astype(components.dtype)",
      "keep = (~adv.non_dominated(weighted)).astype(components.dtype)",
      ("tests/test_parrot.py::test_pareto_keeps_each_groups_brute_force_non_dominated_set_with_the_weighted_sums_advantage",),
      "Parrot trains on the non-dominated samples, not the dominated ones"),
    M("pareto_selects_over_the_batch", "jrew/algos/pg.py",
      "keep = adv.non_dominated(weighted).astype(components.dtype)",
      "keep = adv.non_dominated(weighted.reshape(1, -1, weighted.shape[-1])).reshape(weighted.shape[:2]).astype("
      "components.dtype)",
      ("tests/test_parrot.py::test_pareto_keeps_each_groups_brute_force_non_dominated_set_with_the_weighted_sums_advantage",),
      "samples of different prompts are not compared"),
    M("pareto_dominance_ignores_the_weights", "jrew/algos/pg.py",
      "keep = adv.non_dominated(weighted).astype(components.dtype)",
      "keep = adv.non_dominated(grouped).astype(components.dtype)",
      ("tests/test_parrot.py::test_pareto_keeps_each_groups_brute_force_non_dominated_set_with_the_weighted_sums_advantage",),
      "a weight of 0 leaves its component out of the selection"),
    M("pareto_dominated_samples_kept", "jrew/algos/pg.py",
      "weight = weight * keep  # pareto: a dominated sample leaves the loss and all its statistics",
      "weight = weight * 1.0",
      ("tests/test_parrot.py::test_the_update_leaves_dominated_samples_out_of_the_loss",),
      "the selection must reach the loss"),
    M("gdpo_without_batch_normalization", "jrew/advantages.py",
      "return (summed - summed.mean()) / (summed.std() + eps)", "return summed",
      ("tests/test_parrot.py::test_group_normalized_advantage_equals_its_formula",)),
    M("gdpo_normalizes_the_sum", "jrew/advantages.py",
      "normalized = grpo_advantages(per_component, normalize_std)",
      "normalized = per_component",
      ("tests/test_parrot.py::test_group_normalized_advantage_equals_its_formula",),
      "each component is normalized within its group before the sum"),
    M("components_paid_at_every_step", "envs/seq/env.py",
      "**{k: final(v) for k, v in task.components(prompt, completion).items()},",
      "**{k: v for k, v in task.components(prompt, completion).items()},",
      ("tests/test_parrot.py::test_the_env_reports_each_component_at_the_final_step_and_refuses_a_clash",),
      "an episode's component is its finished completion's"),
    M("component_returns_count_steps_past_the_end", "jrew/algos/pg.py",
      "return jnp.stack([episode_returns(env_metrics[name], mask, gamma) for name in names], axis=-1)",
      "return jnp.stack([episode_returns(env_metrics[name], jnp.ones_like(mask), gamma) for name in names], axis=-1)",
      ("tests/test_parrot.py::test_component_returns_count_each_episodes_own_steps_only",),
      "a second episode started after EOS is no part of the sample"),
    M("length_proxy_strict_verifier", "envs/seq/tasks.py",
      "digits_right = jnp.all(completion[: self.answer_length] == self.solution(prompt)).astype(jnp.float32)",
      "digits_right = self.verify(prompt, completion)",
      ("tests/test_seq_lab.py::test_length_proxy_pays_for_babble_that_the_true_reward_scores_zero",),
      "the proxy's hack must pay token by token"),
    # ------------------------------------------------------------------ reward models over completions, pluralism
    M("completion_rm_pays_unfinished_completions", "jrew/rewards/completions.py",
      "return jnp.where(finished, score, 0.0), state, metrics",
      "return score, state, metrics",
      ("tests/test_completions.py::test_the_model_is_normalized_on_its_set_pays_at_the_end_and_bounds_by_the_formulas",),
      "an outcome model pays once per completion, at its end"),
    M("completion_rm_ignores_the_valid_mask", "jrew/rewards/completions.py",
      "finished = finished & (batch.valid > 0)",
      "finished = finished",
      ("tests/test_completions.py::test_the_model_is_normalized_on_its_set_pays_at_the_end_and_bounds_by_the_formulas",)),
    M("completion_rm_normalizes_the_members_together", "jrew/rewards/completions.py",
      '"mean": scores.mean((1, 2)), "std": scores.std((1, 2)) + 1e-6',
      '"mean": scores.mean(), "std": scores.std() + 1e-6',
      ("tests/test_completions.py::test_the_model_is_normalized_on_its_set_pays_at_the_end_and_bounds_by_the_formulas",),
      "an ensemble's disagreement must not come from its members' offsets"),
    M("best_of_n_weights_off_by_one", "jrew/overoptimization.py",
      "log_weight = np.where(i >= n,",
      "log_weight = np.where(i > n,",
      ("tests/test_completions.py::test_best_of_n_estimate_equals_the_mean_over_every_subset",)),
    M("pal_reward_is_the_distance", "jrew/pluralistic.py",
      "return -jnp.sum((embedding - ideal_point) ** 2, axis=-1)",
      "return jnp.sum((embedding - ideal_point) ** 2, axis=-1)",
      ("tests/test_pluralistic.py::test_pal_reward_is_the_negative_squared_distance_to_the_mixed_ideal_point",)),
    M("vpl_kl_without_the_log_variance", "jrew/pluralistic.py",
      "return 0.5 * jnp.sum(jnp.exp(log_var) + mean**2 - 1.0 - log_var, axis=-1)",
      "return 0.5 * jnp.sum(jnp.exp(log_var) + mean**2 - 1.0, axis=-1)",
      ("tests/test_pluralistic.py::test_gaussian_kl_matches_the_closed_form_for_a_diagonal_gaussian",)),
    M("vpl_attention_sees_padding", "jrew/pluralistic.py",
      "scores = jnp.where(mask[..., None, :] > 0, scores, jnp.finfo(scores.dtype).min)",
      "scores = scores",
      ("tests/test_pluralistic.py::test_masked_context_pairs_do_not_change_the_posterior",),
      "a user's padding pairs must not move their z"),
    M("pair_loss_counts_padding", "jrew/pluralistic.py",
      "return masked_mean(bradley_terry_loss(margin, 0.0, pairs.label), pairs.mask)",
      "return jnp.mean(bradley_terry_loss(margin, 0.0, pairs.label))",
      ("tests/test_pluralistic.py::test_masked_pairs_do_not_count_in_the_losses_or_a_new_pal_users_fit",)),
)


def copy_tree(dest: Path) -> Path:
    """The working tree's code and tests (not runs, venvs or results) under ``dest``."""
    ignore = shutil.ignore_patterns(".git", ".venv", "runs", "results", "__pycache__", "*.png", "*.parquet")
    for name in ("jrew", "envs", "tests", "benchmarks", "experiments"):
        shutil.copytree(ROOT / name, dest / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, dest / name)
    return dest


def run_mutant(mutant: Mutant, workers: int, timeout: float) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"mutant-{mutant.name}-") as tmp:
        root = copy_tree(Path(tmp))
        mutant.apply(root)
        env = {**os.environ, "PYTHONPATH": str(root)}
        cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-m", "not slow",
               "-n", str(workers), *mutant.tests]
        start = time.perf_counter()
        try:
            done = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=timeout, check=False)
            rc, tail = done.returncode, (done.stdout + done.stderr).strip().splitlines()
        except subprocess.TimeoutExpired:
            rc, tail = -1, ["timed out"]
        failed = [line for line in tail if line.startswith(("FAILED", "ERROR"))]
        # 1: tests failed (killed); 0: all passed (survived); anything else (no tests, collection
        # or internal error, timeout) is reported as such, never as a kill
        outcome = {0: "survived", 1: "killed"}.get(rc, f"error (rc {rc})")
        return {"mutant": mutant.name, "file": mutant.path, "outcome": outcome,
                "caught_by": failed[0].split(" - ")[0].removeprefix("FAILED ") if failed else "",
                "tests": " ".join(mutant.tests), "seconds": round(time.perf_counter() - start, 1),
                "why": mutant.why, "last_line": tail[-1] if tail else ""}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", default=None, help="mutant names (default: all)")
    parser.add_argument("--list", action="store_true", help="list the mutants and their tests, run nothing")
    parser.add_argument("--workers", type=int, default=0, help="pytest-xdist workers per mutant (0: in process)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per mutant")
    parser.add_argument("--out", type=Path, default=RESULTS / "mutants")
    args = parser.parse_args(argv)
    names = {m.name for m in MUTANTS}
    unknown = set(args.only or ()) - names
    if unknown:
        parser.error(f"unknown mutants {sorted(unknown)}; known: {sorted(names)}")
    chosen = [m for m in MUTANTS if args.only is None or m.name in args.only]
    if args.list:
        for m in chosen:
            print(f"{m.name:48s} {m.path:32s} {' '.join(m.tests)}")
        return 0
    rows = []
    for i, mutant in enumerate(chosen, 1):
        row = run_mutant(mutant, args.workers, args.timeout)
        rows.append(row)
        print(f"[{i}/{len(chosen)}] {row['outcome']:9s} {mutant.name:48s} {row['seconds']:6.1f}s  {row['caught_by']}",
              flush=True)
    table = pd.DataFrame(rows)
    if args.only is None:  # a partial run does not overwrite the committed table
        args.out.parent.mkdir(parents=True, exist_ok=True)
        write_json(args.out.with_suffix(".json"), rows, mutants=len(rows),  # first: its commit is read clean
                   killed=int((table.outcome == "killed").sum()))
        table.to_csv(args.out.with_suffix(".csv"), index=False)
    survivors = table[table.outcome != "killed"]
    print(f"{len(table) - len(survivors)}/{len(table)} killed" + (
        f"; not killed: {', '.join(survivors.mutant)}" if len(survivors) else ""))
    return 1 if len(survivors) else 0


if __name__ == "__main__":
    sys.exit(main())

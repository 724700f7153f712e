"""imitation's (HumanCompatibleAI) preference comparisons on CartPole-v1, for the side-by-side with
jrew. Runs in imitation's own virtual environment (``imitation_side_by_side.py`` makes it and
calls this file); imports nothing of jrew. Prints one JSON object per seed.

    python benchmarks/imitation_preferences.py --seed 0 --labels 2000 --total-steps 500000

Settings: imitation's preference-comparisons tutorial (PPO from stable-baselines3 with its tuned
hyperparameters, ``BasicRewardNet`` with input normalization, ``SyntheticGatherer`` with
temperature 1 = jrew's beta 1, the hyperbolic query schedule), with jrew's budget: the same number
of labels over pairs of 25-step fragments and the same number of env steps. imitation needs whole
fragments inside one episode and fixed-length episodes (else its episode lengths leak the reward),
so it trains, as in its tutorial, on ``seals/CartPole-v0``: CartPole-v1's dynamics without
termination, 500 steps, reward 1 while the pole is up and the cart on screen (jrew's segments
instead stop at an episode's end). The policy is then scored on CartPole-v1's true return
(steps until the pole falls, at most 500) over 16 episodes.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import seals  # noqa: F401  (registers seals/CartPole-v0)
import torch
from imitation.algorithms import preference_comparisons as pc
from imitation.policies.base import FeedForward32Policy, NormalizeFeaturesExtractor
from imitation.rewards.reward_nets import BasicRewardNet
from imitation.util.networks import RunningNorm
from imitation.util.util import make_vec_env
from stable_baselines3 import PPO
from stable_baselines3.common.evaluation import evaluate_policy


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--labels", type=int, default=2000)
    parser.add_argument("--total-steps", type=int, default=500_000)
    parser.add_argument("--iterations", type=int, default=50)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)
    rng = np.random.default_rng(args.seed)
    start = time.perf_counter()
    venv = make_vec_env("seals/CartPole-v0", n_envs=8, rng=rng)
    reward_net = BasicRewardNet(venv.observation_space, venv.action_space, normalize_input_layer=RunningNorm)
    reward_trainer = pc.BasicRewardTrainer(preference_model=pc.PreferenceModel(reward_net),
                                           loss=pc.CrossEntropyRewardLoss(), epochs=3, rng=rng)
    agent = PPO(policy=FeedForward32Policy,
                policy_kwargs={"features_extractor_class": NormalizeFeaturesExtractor,
                               "features_extractor_kwargs": {"normalize_class": RunningNorm}},
                env=venv, seed=args.seed, n_steps=2048 // venv.num_envs, batch_size=64, ent_coef=0.01,
                learning_rate=2e-3, clip_range=0.1, gae_lambda=0.95, gamma=0.97, n_epochs=10, verbose=0)
    trainer = pc.AgentTrainer(algorithm=agent, reward_fn=reward_net, venv=venv, exploration_frac=0.05, rng=rng)
    comparisons = pc.PreferenceComparisons(
        trainer, reward_net, num_iterations=args.iterations, fragmenter=pc.RandomFragmenter(warning_threshold=0, rng=rng),
        preference_gatherer=pc.SyntheticGatherer(temperature=1.0, rng=rng), reward_trainer=reward_trainer,
        fragment_length=25, transition_oversampling=1, initial_comparison_frac=0.1, allow_variable_horizon=False,
        initial_epoch_multiplier=4, query_schedule="hyperbolic")
    stats = comparisons.train(total_timesteps=args.total_steps, total_comparisons=args.labels)
    train_seconds = time.perf_counter() - start
    eval_env = make_vec_env("CartPole-v1", n_envs=1, rng=np.random.default_rng(1000 + args.seed))
    mean, std = evaluate_policy(agent.policy, eval_env, n_eval_episodes=16, deterministic=False)
    print(json.dumps({"library": "imitation", "seed": args.seed, "labels": args.labels,
                      "env_steps": args.total_steps, "final_true_return": float(mean), "true_return_std": float(std),
                      "reward_accuracy": float(stats.get("reward_accuracy", float("nan"))),
                      "train_seconds": train_seconds}), flush=True)


if __name__ == "__main__":
    main()

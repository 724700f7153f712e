"""Pluralistic reward models on addition completions: a plain Bradley-Terry model against VPL and
PAL, for a population of users of two hidden types, scored per type on new users.

    python experiments/pluralism.py [--seeds 16] [--steps 400] [--users-per-type 32] [--context 8]

Items are ``seq/addition`` token buffers (prompt ++ completion, float token ids, PAD 0), made
directly with the task for one prompt per pair: the right answer, the answer with 1 to all of
its digits wrong, the answer cut short (0 to all but one digit, then EOS) and the answer with 1
or more random digits babbled after it before EOS, within a ``--max-length`` budget longer than
the answer, so lengths vary. Each side of a pair is one of the four kinds, uniformly.

Two user types, each with its gold score (its labels: Boltzmann-rational, ``--beta``):

* ``complete``: prefers the right answer, then more right digits:
  ``g = verify + (answer digits right) / answer_length``;
* ``short``: prefers shorter completions: ``g = -(tokens before EOS)``.

They disagree about a right answer against a shorter cut one, a babbled one against a cut one,
and more. ``--users-per-type`` training users per type label ``--pairs-per-user`` pairs each.
Three reward models, each on its own ``TokenEncoder`` (a causal transformer) over the buffers,
train on the same minibatches of users (``--batch-users`` per step, all their pairs) with Adam:

* ``bt``: one reward for everybody (Bradley-Terry on all pairs);
* ``vpl``: VPL's posterior from ``--context`` of a user's pairs (a fresh split each step), the
  likelihood on the others, KL weight ``--kl-weight`` (Poddar et al. 2024);
* ``pal``: PAL-A with two prototypes, a logit vector per training user (Chen et al. 2025).

Scored on ``--test-users-per-type`` new users per type, each with ``--context`` labelled pairs
(VPL: the posterior mean from them; PAL: mixture weights fitted on them, the model frozen; BT:
unused) and ``--eval-pairs`` fresh pairs: per type, the share of pairs whose gold scores differ
that the model orders as the type does. Also: how well VPL's posterior means give a new user's
type (nearest type mean of the training users'), and how often PAL's largest mixture weight is
on the user's type's prototype (up to permutation).

Policies conditioned on the user: for each new user, ``--bon-prompts`` fresh prompts with
``--bon-n`` candidates each (the kinds above, uniformly: the reference policy), and the best-of-n
policy of each model picks the candidate with the highest ``r(x, z_u)`` (VPL: the user's posterior
mean; PAL: the user's fitted weights; BT: one reward for all). Its per-type true return is the
user's type's gold score of the pick, next to the reference's (a uniform pick) and the oracle's
(the type's own gold picks); ``share of the oracle's gain = (pick - reference) / (oracle -
reference)``.

All seeds of all three models are one compiled program (``jax.vmap`` over seeds). Writes
``pluralism.{json,csv,png}`` to ``--out``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import method_comparison as compare
import numpy as np

import envs
from envs.seq.tasks import EOS, PAD, completion_length
from jrew import plotting
from jrew import pluralistic as PL
from jrew.networks import TokenEncoder

TYPES = ("complete", "short")
KINDS = ("correct", "wrong_digits", "truncated", "babble")
METHODS = ("bt", "vpl", "pal")


def make_task(digits: int, max_length: int):
    task = envs.make("seq/addition", digits=digits, max_length=max_length).task
    if max_length < task.answer_length + 2:
        raise ValueError(f"--max-length ({max_length}) must leave room for a babbled digit and EOS after the "
                         f"answer (>= {task.answer_length + 2})")
    return task


def candidate(key: jax.Array, task, prompt: jax.Array, kind: jax.Array) -> jax.Array:
    """One completion ``[max_length]`` of ``kind`` (an index into ``KINDS``) for ``prompt``:
    digits up to its length, then EOS, then PAD."""
    answer, budget = task.answer_length, task.completion_length
    k_count, k_where, k_shift, k_cut, k_babble, k_digits = jax.random.split(key, 6)
    solution = task.solution(prompt) - task.digit(0)  # digit values
    # wrong digits: 1..answer of the positions, each shifted by 1..base-1 (mod base)
    wrong_count = jax.random.randint(k_count, (), 1, answer + 1)
    wrong_where = jnp.argsort(jax.random.uniform(k_where, (answer,))) < wrong_count
    shift = jax.random.randint(k_shift, (answer,), 1, task.base)
    wrong = jnp.where(wrong_where, (solution + shift) % task.base, solution)
    babble = jax.random.randint(k_digits, (budget,), 0, task.base)
    lengths = jnp.array([answer, answer, jax.random.randint(k_cut, (), 0, answer),
                         jax.random.randint(k_babble, (), answer + 1, budget)])  # babble: 1+ digits, EOS in budget
    digits = jnp.stack([solution, wrong, solution, solution])[kind]
    stream = jnp.concatenate([digits, babble[answer:]])  # the kind's digits, then random ones
    length = lengths[kind]
    position = jnp.arange(budget)
    return jnp.where(position < length, task.digit(stream), jnp.where(position == length, EOS, PAD)).astype(jnp.int32)


def gold_scores(task, buffers: jax.Array) -> jax.Array:
    """Each type's gold score of buffers ``[..., prompt + max_length]``: ``[..., 2]`` (see the
    module docstring)."""
    p, answer = task.prompt_length, task.answer_length

    def one(buffer):
        buffer = buffer.astype(jnp.int32)
        prompt, completion = buffer[:p], buffer[p:]
        digits_right = jnp.mean(completion[:answer] == task.solution(prompt))
        complete = task.verify(prompt, completion) + digits_right
        return jnp.stack([complete, -completion_length(completion).astype(jnp.float32)])

    flat = buffers.reshape(-1, buffers.shape[-1])
    return jax.vmap(one)(flat).reshape(buffers.shape[:-1] + (2,))


def population(key: jax.Array, task, users_per_type: int, pairs_per_user: int, beta: float) -> PL.Population:
    """``users_per_type`` users of each type, each labelling ``pairs_per_user`` pairs of candidate
    completions (one prompt per pair, each side's kind uniform over ``KINDS``)."""
    types = PL.balanced_types(len(TYPES), users_per_type)
    shape = (types.shape[0], pairs_per_user)
    k_prompt, k_kind, k_candidate, k_label = jax.random.split(key, 4)
    prompts = jax.vmap(task.sample_prompt)(jax.random.split(k_prompt, shape[0] * shape[1])).reshape(shape + (-1,))
    kinds = jax.random.randint(k_kind, (2,) + shape, 0, len(KINDS))
    keys = jax.random.split(k_candidate, 2 * shape[0] * shape[1]).reshape((2,) + shape + (-1,))
    one = lambda k, prompt, kind: candidate(k, task, prompt, kind)
    completions = jax.vmap(jax.vmap(jax.vmap(one)), (0, None, 0))(keys, prompts, kinds)  # [2, U, P, L]
    buffers = jnp.concatenate([jnp.broadcast_to(prompts, completions.shape[:-1] + prompts.shape[-1:]), completions],
                              axis=-1).astype(jnp.float32)
    return PL.labeller_population(k_label, lambda x: gold_scores(task, x), buffers[0], buffers[1], types, beta)


def candidate_sets(key: jax.Array, task, users: int, prompts: int, n: int) -> jax.Array:
    """``n`` reference candidates (kinds uniform) for each of ``prompts`` fresh prompts of each of
    ``users`` users: buffers ``[users, prompts, n, prompt + max_length]``."""
    k_prompt, k_kind, k_candidate = jax.random.split(key, 3)
    prompt = jax.vmap(task.sample_prompt)(jax.random.split(k_prompt, users * prompts)).reshape(users, prompts, -1)
    kinds = jax.random.randint(k_kind, (users, prompts, n), 0, len(KINDS))
    keys = jax.random.split(k_candidate, users * prompts * n).reshape(users, prompts, n, -1)
    one = lambda k, p, kind: candidate(k, task, p, kind)
    completions = jax.vmap(jax.vmap(jax.vmap(one, (0, None, 0))))(keys, prompt, kinds)  # [U, Q, n, L]
    prompt = jnp.broadcast_to(prompt[:, :, None], completions.shape[:-1] + prompt.shape[-1:])
    return jnp.concatenate([prompt, completions], axis=-1).astype(jnp.float32)


def type_means(values: jax.Array, types: jax.Array, num_types: int) -> jax.Array:
    """``[num_types]``: the mean of the users' ``values`` ``[U]`` over each type's users."""
    of_type = jax.nn.one_hot(types, num_types)  # [U, T]
    return (of_type.T @ values) / of_type.sum(0)


def best_of_n_returns(scores: jax.Array, own_gold: jax.Array, types: jax.Array, num_types: int) -> jax.Array:
    """``[num_types]``: the mean gold score (under the user's own type) of the candidate each user's
    scores pick, per type; ``scores`` and ``own_gold`` ``[U, Q, n]``, ``types`` ``[U]``."""
    picked = jnp.take_along_axis(own_gold, jnp.argmax(scores, axis=-1)[..., None], axis=-1)[..., 0]  # [U, Q]
    return type_means(picked.mean(-1), types, num_types)


def make_run(task, args):
    """``run(key) -> metrics`` for one seed: data, the three models trained together (the sum of
    their losses: each gets its own gradient and Adam statistics), and their scores."""
    num_types = len(TYPES)
    encoder = lambda: TokenEncoder("transformer", task.vocab_size, args.width, args.depth, args.heads)

    def run(key):
        k_train, k_test, k_init, k_fit, k_bon = jax.random.split(key, 5)
        train = population(k_train, task, args.users_per_type, args.pairs_per_user, args.beta)
        context, fresh = population(k_test, task, args.test_users_per_type, args.context + args.eval_pairs,
                                    args.beta).split(args.context)
        bt = PL.BradleyTerry(encoder(), (args.width,))
        vpl = PL.VPL(encoder(), latent_size=args.latent_size, hidden_size=args.width)
        pal = PL.PAL(encoder(), num_users=train.num_users, num_prototypes=num_types, embed_size=args.width)
        users = jnp.arange(train.num_users)
        k_bt, k_vpl, k_pal = jax.random.split(k_init, 3)
        sample = jax.tree.map(lambda x: x[:2, :args.context], train.pairs)  # shapes for the initializations
        params = {"bt": bt.init(k_bt, sample.a), "vpl": vpl.init(k_vpl, sample, sample.a),
                  "pal": pal.init(k_pal, sample.a, users[:2, None])}

        def loss(p, k):
            k_users, k_split, k_z = jax.random.split(k, 3)
            batch = jax.random.choice(k_users, train.num_users, (args.batch_users,), replace=False)
            pairs = jax.tree.map(lambda x: x[batch], train.pairs)
            vpl_loss, _ = PL.vpl_loss(vpl, p["vpl"], k_z, *PL.split_context(k_split, pairs, args.context),
                                      args.kl_weight)
            losses = {"bt": PL.bt_loss(bt, p["bt"], pairs), "vpl": vpl_loss,
                      "pal": PL.pal_loss(pal, p["pal"], pairs, batch)}
            return sum(losses.values()), losses

        lr = args.learning_rate
        learning_rates = {"bt": lr, "vpl": lr,
                          "pal": PL.pal_learning_rates(params["pal"], lr, args.pal_mixture_learning_rate)}
        params, _ = PL.fit(params, loss, k_fit, args.steps, learning_rates)
        logits = PL.pal_fit_users(pal, params["pal"], context.pairs, args.fit_steps, args.fit_learning_rate)
        margins = {"bt": PL.bt_margins(bt, params["bt"], fresh.pairs),
                   "vpl": PL.vpl_margins(vpl, params["vpl"], context.pairs, fresh.pairs),
                   "pal": PL.pal_margins(pal, params["pal"], fresh.pairs, logits)}
        accuracy = {m: PL.per_type_accuracy(margins[m], fresh.gold_a, fresh.gold_b, fresh.types, num_types)
                    for m in METHODS}
        seen_context = jax.tree.map(lambda x: x[:, :args.context], train.pairs)
        train_z, _ = vpl.apply(params["vpl"], seen_context, method=PL.VPL.posterior)
        new_z, _ = vpl.apply(params["vpl"], context.pairs, method=PL.VPL.posterior)
        # best-of-n policies conditioned on each new user: scores against candidate 0 (a shared
        # offset per prompt: the argmax is that of r(x, z_u))
        sets = candidate_sets(k_bon, task, context.num_users, args.bon_prompts, args.bon_n)  # [U, Q, n, L]
        users_, q, n = sets.shape[:3]
        own_gold = jnp.take_along_axis(gold_scores(task, sets), context.types[:, None, None, None], -1)[..., 0]
        flat = sets.reshape(users_, q * n, -1)
        versus = PL.Pairs(flat, jnp.repeat(sets[:, :, :1], n, axis=2).reshape(flat.shape), jnp.zeros((users_, q * n)),
                          jnp.ones((users_, q * n)))
        scores = {"bt": PL.bt_margins(bt, params["bt"], versus),
                  "vpl": PL.vpl_margins(vpl, params["vpl"], context.pairs, versus),
                  "pal": PL.pal_margins(pal, params["pal"], versus, logits)}
        best_of_n = {m: best_of_n_returns(scores[m].reshape(users_, q, n), own_gold, context.types, num_types)
                     for m in METHODS}
        best_of_n["reference"] = type_means(own_gold.mean((1, 2)), context.types, num_types)  # a uniform pick
        best_of_n["oracle"] = best_of_n_returns(own_gold, own_gold, context.types, num_types)
        return {"accuracy": accuracy, "best_of_n": best_of_n,
                "vpl_type_recovery": PL.nearest_mean_accuracy(train_z, train.types, new_z, context.types, num_types),
                "pal_assignment_seen": PL.assignment_accuracy(params["pal"]["params"]["user_logits"], train.types,
                                                              num_types),
                "pal_assignment_new": PL.assignment_accuracy(logits, context.types, num_types)}

    return run


LABELS = {"bt": "Bradley-Terry (one reward)", "vpl": "VPL", "pal": "PAL-A"}


def summarize(out: dict) -> list[dict]:
    """One row per method: per-type accuracy (mean and 95% bootstrap CI over seeds, and each
    seed's), the worst type's and the mean over types, and each method's type-recovery diagnostic."""
    rows = []
    for method in METHODS:
        acc = np.asarray(out["accuracy"][method], np.float64)  # [seeds, types]
        row = {"method": method, "label": LABELS[method]}
        for t, name in enumerate(TYPES):
            row[f"accuracy_{name}"] = compare.mean_ci(acc[:, t])
            row[f"accuracy_{name}_per_seed"] = acc[:, t].tolist()  # JSON only (the CSV keeps the summaries)
        row["accuracy_worst_type"] = compare.mean_ci(acc.min(axis=1))
        row["accuracy_mean_over_types"] = compare.mean_ci(acc.mean(axis=1))
        picked = np.asarray(out["best_of_n"][method], np.float64)  # [seeds, types]
        reference, oracle = (np.asarray(out["best_of_n"][k], np.float64) for k in ("reference", "oracle"))
        for t, name in enumerate(TYPES):
            row[f"best_of_n_return_{name}"] = compare.mean_ci(picked[:, t])
            row[f"best_of_n_gain_share_{name}"] = compare.mean_ci(
                (picked[:, t] - reference[:, t]) / (oracle[:, t] - reference[:, t]))
            row[f"reference_return_{name}"] = compare.mean_ci(reference[:, t])
            row[f"oracle_return_{name}"] = compare.mean_ci(oracle[:, t])
        if method == "vpl":
            row["type_recovery_new_users"] = compare.mean_ci(np.asarray(out["vpl_type_recovery"]))
        if method == "pal":
            row["prototype_assignment_training_users"] = compare.mean_ci(np.asarray(out["pal_assignment_seen"]))
            row["prototype_assignment_new_users"] = compare.mean_ci(np.asarray(out["pal_assignment_new"]))
        rows.append(row)
    return rows


def plot(rows: list[dict], path: Path, seeds: int) -> Path:
    metrics = [f"accuracy_{name}" for name in TYPES] + ["accuracy_worst_type"]
    points = {r["label"]: np.array([r[m]["mean"] for m in metrics]) for r in rows}
    intervals = {r["label"]: np.array([[r[m]["ci_low"] for m in metrics], [r[m]["ci_high"] for m in metrics]])
                 for r in rows}
    names = [f"{name} users" for name in TYPES] + ["worst type"]
    return plotting.plot_intervals(points, intervals, names,
                                   f"seq/addition: held-out users' preference accuracy per type ({seeds} seeds, "
                                   "95% bootstrap CIs)", path, xlabel="accuracy on new users' fresh pairs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=16)
    parser.add_argument("--digits", type=int, default=2, help="seq/addition's operand digits")
    parser.add_argument("--max-length", type=int, default=7, help="the completion budget (EOS included)")
    parser.add_argument("--users-per-type", type=int, default=32)
    parser.add_argument("--pairs-per-user", type=int, default=24)
    parser.add_argument("--context", type=int, default=8, help="labelled pairs a (new) user's context holds")
    parser.add_argument("--test-users-per-type", type=int, default=16)
    parser.add_argument("--eval-pairs", type=int, default=32, help="fresh pairs per new user, scored")
    parser.add_argument("--beta", type=float, default=4.0, help="the labellers' Boltzmann rationality")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--batch-users", type=int, default=8, help="users per step (all their pairs)")
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--pal-mixture-learning-rate", type=float, default=3e-2,
                        help="PAL's step size for its prototypes and user logits (its reference: 50x the projector's)")
    parser.add_argument("--width", type=int, default=32, help="the transformers' width (and the heads' hidden size)")
    parser.add_argument("--depth", type=int, default=1)
    parser.add_argument("--heads", type=int, default=2)
    parser.add_argument("--latent-size", type=int, default=4, help="VPL's latent user vector")
    parser.add_argument("--kl-weight", type=float, default=0.01, help="VPL's KL weight")
    parser.add_argument("--fit-steps", type=int, default=100, help="Adam steps fitting a new PAL user's weights")
    parser.add_argument("--fit-learning-rate", type=float, default=0.1)
    parser.add_argument("--bon-prompts", type=int, default=16, help="fresh prompts per new user for best-of-n")
    parser.add_argument("--bon-n", type=int, default=16, help="reference candidates per prompt for best-of-n")
    parser.add_argument("--out", type=Path, default=Path("experiments") / "results")
    args = parser.parse_args()
    if not 1 <= args.context < args.pairs_per_user:
        parser.error(f"--context ({args.context}) must be in 1..--pairs-per-user - 1 ({args.pairs_per_user - 1})")
    if not 1 <= args.batch_users <= 2 * args.users_per_type:
        parser.error(f"--batch-users ({args.batch_users}) must be in 1..{2 * args.users_per_type} (the training users)")
    args.out.mkdir(parents=True, exist_ok=True)
    task = make_task(args.digits, args.max_length)

    started = time.time()
    keys = jax.random.split(jax.random.PRNGKey(0), args.seeds)
    program = jax.jit(jax.vmap(make_run(task, args))).lower(keys).compile()
    compiled = time.time()
    out = jax.tree.map(np.asarray, jax.block_until_ready(program(keys)))
    print(f"compile {compiled - started:.0f}s, run {time.time() - compiled:.0f}s ({args.seeds} seeds)")

    rows = summarize(out)
    for row in rows:
        cells = "  ".join(f"{name} {row[f'accuracy_{name}']['mean']:.3f} [{row[f'accuracy_{name}']['ci_low']:.3f}, "
                          f"{row[f'accuracy_{name}']['ci_high']:.3f}]" for name in TYPES)
        print(f"{row['method']:4s} {cells}  worst type {row['accuracy_worst_type']['mean']:.3f}")
    for row in rows:
        cells = "  ".join(f"{name} {row[f'best_of_n_return_{name}']['mean']:+.3f} (share of the oracle's gain "
                          f"{row[f'best_of_n_gain_share_{name}']['mean']:.2f})" for name in TYPES)
        print(f"{row['method']:4s} best-of-{args.bon_n} true return per type: {cells}")
    print("reference / oracle: " + "  ".join(f"{name} {rows[0][f'reference_return_{name}']['mean']:+.3f} / "
                                             f"{rows[0][f'oracle_return_{name}']['mean']:+.3f}" for name in TYPES))
    print(f"vpl type recovery from z (new users): {rows[1]['type_recovery_new_users']['mean']:.3f}; pal prototype "
          f"assignment: training users {rows[2]['prototype_assignment_training_users']['mean']:.3f}, new users "
          f"{rows[2]['prototype_assignment_new_users']['mean']:.3f}")
    name = "pluralism"
    compare.write_rows(rows, args.out, name, seeds={m: list(range(args.seeds)) for m in METHODS},
                       settings=vars(args) | {"out": str(args.out), "types": TYPES, "kinds": KINDS})
    print(f"plot: {plot(rows, args.out / f'{name}.png', args.seeds)}")


if __name__ == "__main__":
    main()

"""Running a suite: each group as one program, in its own run directory, resumable.

Output folder::

    out/plan.json          the groups (which variants each run holds) and a fingerprint of what each trains
    out/suite.toml         a copy of the suite file
    out/groups.json        per group: status, compile time, train time, env steps/s
    out/runs/<env>/<group>/  run directories (config.json, metrics/, checkpoints)
    out/report.md, out/*.parquet, out/*.png   (jrew.bench.report)

Rerunning ``jrew bench`` on the same folder skips finished groups, resumes a paused or
interrupted one from its last checkpoint and starts the rest: a killed suite loses at most one
chunk of one group. A suite edited by adding envs or variants reuses the groups it already ran
(a group whose configs, pipelines, seeds or evaluation changed is refused by name).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from jrew import run_dir as files
from jrew import runner
from jrew.bench.suite import Group, Suite, SuiteError, plan
from jrew.checkpoints import Checkpoints

PLAN_FILE, GROUPS_FILE = "plan.json", "groups.json"


def group_dir(out: Path, group: Group) -> Path:
    return out / "runs" / group.task.key / group.name


def group_status(run_dir: Path, num_updates: int) -> tuple[str, int]:
    """('done' | 'partial' | 'new', last checkpointed update)."""
    if not files.has_run(run_dir):
        return "new", 0
    step = Checkpoints(run_dir).latest_step()
    if step is None:
        return "new", 0
    return ("done" if step >= num_updates else "partial"), step


def run_suite(suite: Suite, out: str | Path, *, until_update: int | None = None, progress: bool = True,
              log=print) -> dict[str, dict]:
    """Trains every group of ``suite`` not yet finished in ``out``; returns ``groups.json``'s records."""
    out = Path(out)
    _claim(out, suite)
    records = _read_records(out)
    for i, group in enumerate(suite.groups, start=1):
        run_dir = group_dir(out, group)
        num_updates = group.variants[0].config.num_updates
        status, step = group_status(run_dir, num_updates)
        head = (f"[{i}/{len(suite.groups)}] {group.task.key} {group.name}: {len(group.variants)} variant(s) x "
                f"{len(suite.seeds)} seeds, {group.algo}")
        if status == "done":
            log(f"{head}: done, skipped")
            continue
        rewards = [v.reward for v in group.variants]
        if status == "partial":
            log(f"{head}: resuming from update {step} of {num_updates}")
            result = runner.resume(run_dir, reward=rewards, until_update=until_update, progress=progress)
        else:
            log(f"{head}: training")
            if run_dir.exists():  # interrupted before its first checkpoint: nothing to keep
                shutil.rmtree(run_dir)
            result = runner.train(group.plan(suite.seeds), run_dir=run_dir, evaluation=group.evaluation,
                                  until_update=until_update, progress=progress)
        key = str(run_dir.relative_to(out))
        previous = records.get(key, {})
        trained_updates = len(result.env_steps) - step if len(result.env_steps) else 0
        records[key] = {
            "task": group.task.key, "group": group.name, "algo": group.algo,
            "variants": [v.name for v in group.variants], "runs": len(group.variants) * len(suite.seeds),
            "status": group_status(run_dir, num_updates)[0],
            # compile time of the first session; training time and updates summed over sessions
            "compile_seconds": previous.get("compile_seconds", result.compile_seconds),
            "train_seconds": previous.get("train_seconds", 0.0) + result.train_seconds,
            "trained_updates": previous.get("trained_updates", 0) + trained_updates,
            "steps_per_update_per_run": group.variants[0].config.steps_per_update,
        }
        _write_records(out, records)
    return records


def unfinished(suite: Suite, out: str | Path) -> list[Group]:
    """The suite's groups whose runs in ``out`` have not reached their last update."""
    return [g for g in suite.groups
            if group_status(group_dir(Path(out), g), g.variants[0].config.num_updates)[0] != "done"]


def _claim(out: Path, suite: Suite) -> None:
    """Records the plan in ``out``. Groups that ran before must be unchanged (same configs,
    pipelines, seeds, evaluation), so an edited suite reuses them and trains only what is new."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / PLAN_FILE
    saved = {(g["task"], g["name"]): g for g in json.loads(path.read_text())["groups"]} if path.exists() else {}
    current = plan(suite)
    for group, entry in zip(suite.groups, current["groups"]):
        before = saved.get((entry["task"], entry["name"]))
        if before is not None and before["fingerprint"] != entry["fingerprint"] and files.has_run(group_dir(out, group)):
            raise SuiteError(
                f"{out}: group {entry['task']}/{entry['name']} changed since it ran (its configs, reward pipelines, "
                f"seeds or evaluation differ); use a new --out, or delete {group_dir(out, group)} to train it again"
            )
    path.write_text(json.dumps(current, indent=2) + "\n")
    if suite.path.resolve() != (out / "suite.toml").resolve():
        shutil.copyfile(suite.path, out / "suite.toml")


def _read_records(out: Path) -> dict[str, dict]:
    path = out / GROUPS_FILE
    return json.loads(path.read_text()) if path.exists() else {}


def _write_records(out: Path, records: dict[str, dict]) -> None:
    tmp = out / (GROUPS_FILE + ".tmp")
    tmp.write_text(json.dumps(records, indent=2) + "\n")
    tmp.replace(out / GROUPS_FILE)

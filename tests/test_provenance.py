"""Result files record where they came from: the command as a user retypes it, the commit, and
(from the writer's caller) the seeds and settings."""

import json
import re
import sys

import numpy as np

import jrew
from jrew import provenance


def test_the_command_is_retypable_from_the_repository_root(monkeypatch):
    script = str(provenance.ROOT / "experiments" / "noisy_tv.py")
    monkeypatch.setattr(sys.modules["__main__"], "__spec__", None, raising=False)
    assert provenance.command([script, "--seeds", "16"]) == "python experiments/noisy_tv.py --seeds 16"
    module = str(provenance.ROOT / "benchmarks" / "reproduce.py")
    monkeypatch.setattr(sys.modules["__main__"], "__spec__", object(), raising=False)
    assert provenance.command([module, "--only", "brax"]) == "python -m benchmarks.reproduce --only brax"
    assert provenance.command(["/elsewhere/x.py", "a b"]) == "python /elsewhere/x.py 'a b'"


def test_the_commit_is_the_short_head_marked_dirty_or_unknown_outside_git():
    assert re.fullmatch(r"[0-9a-f]{7,40}(\+dirty)?|unknown", provenance.commit())


def test_benchmark_results_carry_provenance_and_the_callers_meta(tmp_path, monkeypatch):
    from benchmarks import common

    monkeypatch.setattr(common, "RESULTS", tmp_path)
    json_path, csv_path = common.write_results("x", [{"a": 1.0}], {"seeds": 8, "out": tmp_path})
    meta = json.loads(json_path.read_text())["meta"]
    assert {"command", "commit", "written"} <= set(meta) and meta["seeds"] == 8 and meta["out"] == str(tmp_path)
    assert csv_path.read_text().splitlines() == ["a", "1.0"]


def test_experiment_results_carry_provenance_seeds_and_settings(tmp_path):
    sys.path.insert(0, str(provenance.ROOT / "experiments"))
    try:
        import method_comparison
    finally:
        sys.path.remove(str(provenance.ROOT / "experiments"))
    metrics = {"true_return": np.array([[1.0, 2.0], [1.5, 2.5]], np.float32)}
    result = jrew.RunResult(state=None, metrics=metrics, env_steps=np.array([10, 20]), seeds=[0, 1], run_dir=None,
                            compile_seconds=0.0, train_seconds=0.0)
    method_comparison.write([{"method": "ppo", "final": 2.25}], {"ppo": result}, "true_return", "t", tmp_path, "r",
                            {"seeds": 2, "out": tmp_path})
    saved = json.loads((tmp_path / "r.json").read_text())
    assert saved["rows"] == [{"method": "ppo", "final": 2.25}]
    assert saved["meta"]["seeds"] == {"ppo": [0, 1]} and saved["meta"]["settings"]["out"] == str(tmp_path)
    assert {"command", "commit", "written"} <= set(saved["meta"])

"""The mutation list (benchmarks/mutants.py) stays true to the code: each snippet occurs once where
it says, and each test it names exists, so a refactor cannot turn a mutant into a silent no-op.
Running the mutants is the slow part: ``python -m benchmarks.mutants``."""

import ast
from pathlib import Path

import pytest

from benchmarks.mutants import MUTANTS, ROOT


def test_there_are_at_least_twenty_mutants_with_unique_names():
    names = [m.name for m in MUTANTS]
    assert len(names) >= 20 and len(set(names)) == len(names)


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.name)
def test_each_mutant_applies_once_and_names_existing_tests(mutant, tmp_path):
    text = (ROOT / mutant.path).read_text()
    assert text.count(mutant.before) == 1, f"{mutant.name}: snippet not found once in {mutant.path}"
    assert mutant.before != mutant.after
    for test in mutant.tests:
        file, _, function = test.partition("::")
        path = ROOT / file
        assert path.is_file(), f"{mutant.name}: no test file {file}"
        if function:
            defined = {n.name for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.FunctionDef)}
            assert function in defined, f"{mutant.name}: {file} defines no {function}"
    target = tmp_path / mutant.path
    target.parent.mkdir(parents=True)
    target.write_text(text)
    mutant.apply(tmp_path)
    assert Path(target).read_text() != text

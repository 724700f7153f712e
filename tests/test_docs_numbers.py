"""The README's generated blocks equal what the committed result files give (benchmarks/docs_numbers.py).

Fast: reads JSON and Parquet only, no JAX programs. Fix a failure with `python -m benchmarks.docs_numbers`
(it rewrites the blocks from the files), then read the diff: a changed number means the README was wrong.
"""

import re

import pytest

from benchmarks import docs_numbers

README_TEXT = docs_numbers.README.read_text()
FOUND = docs_numbers.find_blocks(README_TEXT)


def test_the_readme_matches_its_result_files():
    problems = docs_numbers.problems(README_TEXT)
    assert not problems, "run `python -m benchmarks.docs_numbers` and check the diff:\n" + "\n".join(problems)


def test_every_block_is_in_the_readme_once_and_names_existing_files():
    names = [f.name for f in FOUND]
    assert sorted(names) == sorted(docs_numbers.BLOCKS), names
    for f in FOUND:
        assert f.sources == docs_numbers.BLOCKS[f.name].sources, f.name
        for source in f.sources:
            assert (docs_numbers.ROOT / source).is_file(), f"{f.name}: {source} does not exist"
        assert re.search(r"\d", f.body), f"{f.name}: no number in the block"


@pytest.mark.parametrize("name", sorted(docs_numbers.BLOCKS))
def test_an_altered_number_in_a_copy_of_the_readme_is_caught(name, tmp_path):
    """Change one digit inside one block of a copy: the check names that block and no other, and a
    rewrite restores the README exactly (so the check cannot pass vacuously)."""
    (block,) = [f for f in FOUND if f.name == name]
    start, end = block.span
    rows = README_TEXT.index("|---", start)  # a digit in the table's rows, past its header
    i = rows + re.search(r"\d", README_TEXT[rows:end]).start()
    altered = README_TEXT[:i] + str((int(README_TEXT[i]) + 1) % 10) + README_TEXT[i + 1:]
    problems = docs_numbers.problems(altered)
    assert len(problems) == 1 and problems[0].startswith(f"{name}: the README differs"), problems
    assert docs_numbers.rewrite(altered) == README_TEXT

    copy = tmp_path / "README.md"
    copy.write_text(altered)
    assert docs_numbers.main(["--check", "--readme", str(copy)]) == 1
    assert copy.read_text() == altered  # --check changes nothing
    assert docs_numbers.main(["--readme", str(copy)]) == 0
    assert copy.read_text() == README_TEXT


def test_a_marker_naming_the_wrong_file_or_a_missing_block_is_caught():
    (block,) = [f for f in FOUND if f.name == "scaling-runs"]
    wrong = README_TEXT.replace("generated: scaling-runs (from benchmarks/results/scaling.json)",
                                "generated: scaling-runs (from benchmarks/results/scaling.csv)")
    assert any(p.startswith("scaling-runs: the marker names") for p in docs_numbers.problems(wrong))
    start = README_TEXT.rfind("<!-- generated: scaling-runs", 0, block.span[0])
    end = README_TEXT.index("<!-- /generated -->", block.span[1]) + len("<!-- /generated -->")
    removed = README_TEXT[:start] + README_TEXT[end:]
    assert "scaling-runs: not in the README (add its markers)" in docs_numbers.problems(removed)

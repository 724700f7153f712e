"""The README's generated blocks equal what the committed result files give (benchmarks/docs_numbers.py).

Fast: reads JSON and Parquet only, no JAX programs. Fix a failure with `python -m benchmarks.docs_numbers`
(it rewrites the blocks from the files), then read the diff: a changed number means the README was wrong.
"""

import json
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


@pytest.mark.parametrize("where", ["first", "last"])
@pytest.mark.parametrize("name", sorted(docs_numbers.BLOCKS))
def test_an_altered_number_in_a_copy_of_the_readme_is_caught(name, where, tmp_path):
    """Change one digit inside one block of a copy: the check names that block and no other, and a
    rewrite restores the README exactly (so the check cannot pass vacuously). The first digit of the
    rows may be a label's (CartPole-v1); the block's last digit is one the files give."""
    (block,) = [f for f in FOUND if f.name == name]
    start, end = block.span
    rows = README_TEXT.find("|---", start, end)  # a digit in the table's rows, past its header
    rows = start if rows < 0 else rows  # a block that is not a table (the quickstart's output)
    digits = [m.start() for m in re.finditer(r"\d", README_TEXT[rows:end])]
    i = rows + (digits[0] if where == "first" else digits[-1])
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


def test_read_json_gives_the_rows_of_a_list_or_of_a_meta_and_rows_file(tmp_path):
    rows = [{"method": "ppo", "final_true_return": {"mean": 1.0}}]
    bare, wrapped = tmp_path / "bare.json", tmp_path / "wrapped.json"
    bare.write_text(json.dumps(rows))
    wrapped.write_text(json.dumps({"meta": {"command": "python x.py", "commit": "abc1234"}, "rows": rows}))
    assert docs_numbers.read_json(str(bare), rows=True) == rows
    assert docs_numbers.read_json(str(wrapped), rows=True) == rows
    assert docs_numbers.read_json(str(wrapped))["meta"]["commit"] == "abc1234"  # the whole file by default


def test_a_block_inside_a_list_item_keeps_its_indentation():
    (block,) = [f for f in FOUND if f.name == "asterix-vs-blines"]
    assert all(line.startswith("  |") for line in block.body.splitlines())
    assert "\n  <!-- generated: asterix-vs-blines (from " in README_TEXT

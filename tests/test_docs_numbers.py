"""The generated blocks of README.md, docs/ and benchmarks/README.md equal what the committed result
files give (benchmarks/docs_numbers.py).

Fast: reads JSON and Parquet only, no JAX programs. Fix a failure with `python -m benchmarks.docs_numbers`
(it rewrites the blocks from the files), then read the diff: a changed number means the docs were wrong.
"""

import json
import re
import shutil

import pytest

from benchmarks import docs_numbers

TEXTS = docs_numbers.read_targets()
FOUND = {f.name: (path, f) for path, text in TEXTS.items() for f in docs_numbers.find_blocks(text)}


def test_the_docs_match_their_result_files():
    problems = docs_numbers.problems(TEXTS)
    assert not problems, "run `python -m benchmarks.docs_numbers` and check the diff:\n" + "\n".join(problems)


def test_the_targets_are_the_readmes_and_every_docs_page():
    targets = docs_numbers.target_files()
    assert targets[:2] == ["README.md", "benchmarks/README.md"]
    pages = sorted(p.relative_to(docs_numbers.ROOT).as_posix() for p in (docs_numbers.ROOT / "docs").rglob("*.md"))
    assert targets[2:] == pages and pages


def test_every_block_is_in_one_file_once_and_names_existing_files():
    names = [f.name for text in TEXTS.values() for f in docs_numbers.find_blocks(text)]
    assert sorted(names) == sorted(docs_numbers.BLOCKS), names
    for name, (path, f) in FOUND.items():
        assert f.sources == docs_numbers.BLOCKS[name].sources, name
        for source in f.sources:
            assert (docs_numbers.ROOT / source).is_file(), f"{name} in {path}: {source} does not exist"
        assert re.search(r"\d", f.body), f"{name}: no number in the block"


def test_the_readme_keeps_the_quickstart_output_and_the_results_summary():
    assert FOUND["quickstart"][0] == "README.md" and FOUND["summary"][0] == "README.md"
    assert FOUND["reproduction"][0] == "benchmarks/README.md"  # beside its result files


@pytest.mark.parametrize("where", ["first", "last"])
@pytest.mark.parametrize("name", sorted(docs_numbers.BLOCKS))
def test_an_altered_number_in_a_copy_of_the_docs_is_caught(name, where, tmp_path):
    """Change one digit inside one block of a copy of its file: the check names that block, in that
    file, and no other, and a rewrite restores the file exactly (so the check cannot pass vacuously).
    The first digit of the rows may be a label's (CartPole-v1); the block's last digit is one the files give."""
    path, block = FOUND[name]
    text = TEXTS[path]
    start, end = block.span
    rows = text.find("|---", start, end)  # a digit in the table's rows, past its header
    rows = start if rows < 0 else rows  # a block that is not a table (the quickstart's output)
    digits = [m.start() for m in re.finditer(r"\d", text[rows:end])]
    i = rows + (digits[0] if where == "first" else digits[-1])
    altered = text[:i] + str((int(text[i]) + 1) % 10) + text[i + 1:]
    problems = docs_numbers.problems({**TEXTS, path: altered})
    assert len(problems) == 1 and problems[0].startswith(f"{name}: {path} differs"), problems
    assert docs_numbers.rewrite(altered, path) == text

    for target in TEXTS:  # a copy of every file that holds blocks, one of them altered
        copy = tmp_path / target
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(docs_numbers.ROOT / target, copy)
    (tmp_path / path).write_text(altered)
    assert docs_numbers.main(["--check", "--root", str(tmp_path)]) == 1
    assert (tmp_path / path).read_text() == altered  # --check changes nothing
    assert docs_numbers.main(["--root", str(tmp_path)]) == 0
    assert (tmp_path / path).read_text() == text


def test_a_marker_naming_the_wrong_file_a_missing_block_or_a_second_copy_is_caught():
    path, block = FOUND["scaling-runs"]
    text = TEXTS[path]
    wrong = text.replace("generated: scaling-runs (from benchmarks/results/scaling.json)",
                         "generated: scaling-runs (from benchmarks/results/scaling.csv)")
    assert any(p.startswith(f"scaling-runs: the marker in {path} names") for p in docs_numbers.problems({**TEXTS, path: wrong}))
    start = text.rfind("<!-- generated: scaling-runs", 0, block.span[0])
    end = text.index("<!-- /generated -->", block.span[1]) + len("<!-- /generated -->")
    removed = text[:start] + text[end:]
    assert any(p.startswith("scaling-runs: in none of the files") for p in docs_numbers.problems({**TEXTS, path: removed}))
    copied = {**TEXTS, "docs/results.md": TEXTS["docs/results.md"] + "\n" + text[start:end] + "\n"}
    assert f"scaling-runs: appears 2 times ({path}, docs/results.md)" in docs_numbers.problems(copied)


def test_a_block_links_relative_to_the_file_that_holds_it():
    """Renderers link relative to the repository root; a block in docs/ links up out of docs/."""
    path, block = FOUND["lab-envs"]
    assert path == "docs/reward-lab.md"
    assert "[results](../benchmarks/results/envs.json)" in block.body
    assert "[results](benchmarks/results/envs.json)" in docs_numbers.BLOCKS["lab-envs"].text("README.md")
    assert docs_numbers.relink("[a](x/y.json#k) [b](https://e.org/z) [c](#here)", "docs/api/p.md") == \
        "[a](../../x/y.json#k) [b](https://e.org/z) [c](#here)"


def test_read_json_gives_the_rows_of_a_list_or_of_a_meta_and_rows_file(tmp_path):
    rows = [{"method": "ppo", "final_true_return": {"mean": 1.0}}]
    bare, wrapped = tmp_path / "bare.json", tmp_path / "wrapped.json"
    bare.write_text(json.dumps(rows))
    wrapped.write_text(json.dumps({"meta": {"command": "python x.py", "commit": "abc1234"}, "rows": rows}))
    assert docs_numbers.read_json(str(bare), rows=True) == rows
    assert docs_numbers.read_json(str(wrapped), rows=True) == rows
    assert docs_numbers.read_json(str(wrapped))["meta"]["commit"] == "abc1234"  # the whole file by default


def test_a_block_inside_a_list_item_keeps_its_indentation():
    path, block = FOUND["asterix-vs-blines"]
    assert all(line.startswith("  |") for line in block.body.splitlines())
    assert "\n  <!-- generated: asterix-vs-blines (from " in TEXTS[path]

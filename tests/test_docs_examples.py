"""Every Python block of README.md, docs/ and benchmarks/README.md runs, and every suite in docs/ loads.

A page's Python blocks run in order, in one namespace (a block may use the names an earlier one
defined), in a fresh temporary working directory (the `runs/...` they write land there). An HTML
comment on the line right before a block's opening fence marks it:

    <!-- slow: REASON -->      it trains for more than a few seconds: it runs under `-m slow` only
    <!-- not-run: REASON -->   a fragment that cannot run on its own (use sparingly): never run

The default suite runs each page's unmarked blocks and skips its slow ones, so an unmarked block
must not need a name that only a slow block defines. `-m slow` runs every block of a page that
has a slow one, in order. An unmarked block that fails fails its page's test. TOML blocks in docs/
are benchmark suites: each must pass `jrew.bench.suite.load`, which checks every key and value.
"""

from __future__ import annotations

import dataclasses
import re
import sys
import types
from pathlib import Path

import pytest

from benchmarks import docs_numbers

ROOT = Path(__file__).resolve().parent.parent
PAGES = docs_numbers.target_files()  # README.md, benchmarks/README.md, docs/**/*.md
MODES = ("run", "slow", "not-run")
_FENCE = re.compile(r"^(?P<indent> *)(?P<fence>```+|~~~+)\s*(?P<lang>[^\s`]*)")
_MARKER = re.compile(r"^\s*<!--\s*(?P<kind>[\w-]+)\s*(?::\s*(?P<reason>.*?))?\s*-->\s*$")


@dataclasses.dataclass(frozen=True)
class Block:
    page: str
    line: int  # of the opening fence, 1-based
    lang: str
    source: str
    mode: str  # "run", "slow" or "not-run"
    reason: str = ""


def blocks(text: str, page: str) -> list[Block]:
    """Every fenced code block of ``text``, with its marker; a ``ValueError`` for an unknown marker or
    a Python block fenced with another name (it would be skipped silently)."""
    lines = text.splitlines()
    out, i = [], 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence, lang = len(m["indent"]), m["fence"], m["lang"].lower()
        end = next((j for j in range(i + 1, len(lines)) if lines[j].strip().startswith(fence[0] * len(fence))
                    and not lines[j].strip().strip(fence[0])), None)
        if end is None:
            raise ValueError(f"{page}:{i + 1}: a code fence that is never closed")
        source = "\n".join(line[indent:] if line[:indent].strip() == "" else line for line in lines[i + 1:end])
        mode, reason = "run", ""
        marker = _MARKER.match(lines[i - 1]) if i > 0 else None
        if lang in ("py", "python3", "pycon", "ipython"):
            raise ValueError(f"{page}:{i + 1}: fence Python blocks as ```python (this one is ```{lang})")
        if marker and lang == "python" and not marker["kind"].startswith("generated"):
            mode, reason = marker["kind"], marker["reason"] or ""
            if mode not in MODES[1:]:
                raise ValueError(f"{page}:{i}: unknown marker <!-- {mode} -->; known: slow, not-run")
            if mode == "not-run" and not reason:
                raise ValueError(f"{page}:{i}: <!-- not-run: ... --> needs a reason")
        out.append(Block(page, i + 1, lang, source, mode, reason))
        i = end + 1
    return out


def python_blocks(page: str) -> list[Block]:
    return [b for b in blocks((ROOT / page).read_text(), page) if b.lang == "python"]


def run_blocks(found: list[Block], *, slow: bool) -> None:
    """Runs the blocks in order in one namespace: the unmarked ones, and the slow ones too if ``slow``."""
    page_module = types.ModuleType("__docs__")  # a real module: a dataclass defined in a block looks itself up
    sys.modules["__docs__"] = page_module
    namespace = page_module.__dict__
    for b in found:
        if b.mode == "not-run" or (b.mode == "slow" and not slow):
            continue
        try:
            exec(compile(b.source, f"{b.page}:{b.line}", "exec"), namespace)  # noqa: S102 (running the docs is the test)
        except BaseException as err:
            err.add_note(f"in the Python block at {b.page}:{b.line} (marked {b.mode})")
            raise


ALL = {page: python_blocks(page) for page in PAGES}
FAST = [page for page, found in ALL.items() if any(b.mode == "run" for b in found)]
SLOW = [page for page, found in ALL.items() if any(b.mode == "slow" for b in found)]


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    """A fresh working directory; the repository stays importable (jrew, envs, benchmarks)."""
    monkeypatch.syspath_prepend(str(ROOT))
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("page", FAST)
def test_the_unmarked_python_blocks_run(page, in_tmp):
    run_blocks(ALL[page], slow=False)


@pytest.mark.slow
@pytest.mark.parametrize("page", SLOW)
def test_every_python_block_of_the_page_runs_in_order(page, in_tmp):
    run_blocks(ALL[page], slow=True)


def test_the_pages_have_python_blocks_and_few_are_left_out():
    """The README's example is here; not-run blocks are rare and say why."""
    assert any(b.page == "README.md" for found in ALL.values() for b in found)
    counted = sum(len(found) for found in ALL.values())
    fences = sum(len(re.findall(r"^ *```python\s*$", (ROOT / p).read_text(), re.MULTILINE)) for p in PAGES)
    assert counted == fences >= 10
    not_run = [b for found in ALL.values() for b in found if b.mode == "not-run"]
    assert len(not_run) <= 3, [f"{b.page}:{b.line}" for b in not_run]
    assert all(b.reason for b in not_run)


def test_an_unmarked_block_that_fails_fails_and_markers_are_honoured(in_tmp):
    text = """```python
x = 1
```
<!-- slow: trains -->
```python
x = 2
```
<!-- not-run: a fragment -->
```python
this is not python
```
```python
assert x == 1, x
```"""
    found = blocks(text, "page.md")
    assert [b.mode for b in found] == ["run", "slow", "not-run", "run"]
    assert found[1].reason == "trains" and found[2].reason == "a fragment"
    run_blocks(found, slow=False)  # the slow block is skipped, so x is still 1
    with pytest.raises(AssertionError, match="2") as info:
        run_blocks(found, slow=True)  # the slow block sets x = 2: the last block fails
    assert any("page.md:12" in note for note in info.value.__notes__)
    failing = blocks("```python\nraise ValueError('broken example')\n```", "page.md")
    with pytest.raises(ValueError, match="broken example"):
        run_blocks(failing, slow=False)


def test_unknown_markers_unnamed_fragments_and_other_python_fences_are_refused():
    with pytest.raises(ValueError, match="unknown marker"):
        blocks("<!-- skip -->\n```python\nx = 1\n```", "page.md")
    with pytest.raises(ValueError, match="needs a reason"):
        blocks("<!-- not-run -->\n```python\nx = 1\n```", "page.md")
    with pytest.raises(ValueError, match="```python"):
        blocks("```py\nx = 1\n```", "page.md")
    indented = blocks("- item\n\n  ```python\n  x = 1\n  ```\n", "page.md")
    assert indented[0].source == "x = 1"


@pytest.mark.parametrize("page", [p for p in PAGES if p.startswith("docs/") and "```toml" in (ROOT / p).read_text()])
def test_the_suites_in_the_docs_load(page, tmp_path):
    from jrew.bench import suite

    found = [b for b in blocks((ROOT / page).read_text(), page) if b.lang == "toml"]
    assert found
    for b in found:
        path = tmp_path / f"line{b.line}.toml"
        path.write_text(b.source)
        loaded = suite.load(path)  # every key known, every value checked, every trainer built
        assert loaded.groups, f"{page}:{b.line}"


def test_every_suite_key_is_documented():
    """docs/bench.md's full example and key table name every key jrew.bench.suite accepts."""
    from jrew.bench import suite

    text = (ROOT / "docs" / "bench.md").read_text()
    full = next(b.source for b in blocks(text, "docs/bench.md") if b.lang == "toml" and "threshold" in b.source)
    keys = set(re.findall(r"^(\w+)\s*=", full, re.MULTILINE)) | set(re.findall(r"[{,]\s*(\w+)\s*=", full))
    evaluation_keys = {f.name for f in dataclasses.fields(sys.modules["jrew.evaluation"].Evaluation)} | {"count"}
    documented = suite.TOP_KEYS | suite.ENV_KEYS | suite.VARIANT_KEYS | evaluation_keys
    for key in documented - {"envs", "variants", "evaluation"}:  # tables: [envs.X], [variants.X], [evaluation]
        assert key in keys or f"`{key}`" in text, key
    for key in suite.ENV_KEYS:
        assert f"| `{key}` | `[envs.KEY]`" in text, key
    for key in suite.VARIANT_KEYS:
        assert f"| `{key}` | `[variants.NAME]`" in text, key
    for key in suite.TOP_KEYS - {"envs", "variants", "evaluation"}:
        assert f"| `{key}` | top" in text, key

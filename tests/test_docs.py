"""The documentation site builds with `mkdocs build --strict` and holds what it should.

One build per session (a few seconds): no warning at all (a broken link, a missing anchor, a page
outside the navigation, a docstring griffe cannot read, a table cell that GitHub would split),
the API pages rendered from the docstrings, the README as the home page with its links to docs/
pointing at the site's pages, and the transform table generated from the code.
"""

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytest.importorskip("mkdocs", reason="the docs packages come with the test extra: pip install -e '.[test]'")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}  # material's banner about MkDocs 2.0 (not a warning of the build)
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(ROOT / "mkdocs.yml"),
                           "--site-dir", str(out)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{log}"
    warnings = [line for line in log.splitlines() if "WARNING" in line or "ERROR" in line]
    assert not warnings, "\n".join(warnings)
    return out


def page(site: Path, name: str) -> str:
    return (site / name / "index.html").read_text() if name else (site / "index.html").read_text()


def test_the_api_pages_are_rendered_from_the_docstrings(site):
    api = page(site, "api/jrew")
    assert "Trains <code>config</code> (its class picks the learner)" in api  # jrew.train's docstring
    assert 'id="jrew.train"' in api and 'id="jrew.resume"' in api
    rewards = page(site, "api/rewards")
    assert 'id="jrew.rewards.pbrs"' in rewards and 'id="jrew.rewards.spec.parse"' in rewards
    assert "Builds the env" in page(site, "api/envs")  # envs.make's docstring


def test_the_readme_is_the_home_page_and_its_links_point_at_the_site(site):
    home = page(site, "")
    assert 'id="use-it"' in home and "quickstart.py" in home
    assert 'href="getting-started/"' in home and 'href="benchmarks/"' in home  # docs/*.md and benchmarks/README.md
    assert 'href="docs/' not in home
    assert 'href="_repo/experiments/results/quickstart.json"' in home  # a result file, copied beside the pages
    assert (site / "_repo/experiments/results/quickstart.json").is_file()


def test_every_text_transform_has_a_row_in_the_generated_table(site):
    spec = importlib.util.spec_from_file_location("jrew_site", ROOT / "docs" / "_hooks" / "jrew_site.py")
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    html = page(site, "reward-specs")
    names = sorted(hooks.text_constructors())
    assert len(names) >= 30
    for name in names:
        assert re.search(rf'<td><a class="autorefs[^"]*"[^>]*><code>{name}</code></a></td>', html), name
    assert "<code>(potential: Callable[[jax.Array], jax.Array], coef: float = 1.0)</code>" in html
    assert "transform-table" not in html  # the marker was replaced

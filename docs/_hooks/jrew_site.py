"""mkdocs hooks for jrew's site (``hooks:`` in mkdocs.yml). Three jobs:

1. **Pages from outside docs/.** ``README.md`` is the site's home page and ``benchmarks/README.md``
   its benchmarks page (``REPO_PAGES``), so each text is written once and reads well on GitHub too.
2. **Links written for GitHub work on the site.** Pages link to other files by their path in the
   repository, relative to the page (``../experiments/results/noisy_tv.json`` from
   ``docs/exploration.md``, ``docs/rewards.md`` from ``README.md``). Each such link is rewritten to
   the file's place on the site: a docs page or a repository page stays a page; any other file of
   the repository (a result file, a figure) is copied to ``_repo/<its path>``, where a Markdown
   file (a benchmark's ``report.md``) is a page outside the navigation, its own links followed. A link to a missing
   file or to a folder is a warning, which ``mkdocs build --strict`` turns into a failure.
3. **The transform table.** The line ``<!-- transform-table -->`` becomes a table of every
   constructor a ``--reward`` string may call, with its signature and the first paragraph of its
   docstring (``transform_table``; ``text_constructors`` is the one place it reads them from).
"""

from __future__ import annotations

import inspect
import logging
import posixpath
import re
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from mkdocs.structure.files import File, Files

log = logging.getLogger("mkdocs.hooks.jrew_site")  # under "mkdocs": --strict counts its warnings

ROOT = Path(__file__).resolve().parents[2]
DOCS = "docs"
REPO_PAGES = {"README.md": "index.md", "benchmarks/README.md": "benchmarks.md"}  # repository path -> site page
ASSETS = "_repo"  # repository files that pages link to are copied under this folder of the site
TRANSFORM_TABLE = "<!-- transform-table -->"

_FENCE = re.compile(r"^( *)(```|~~~).*?^\1\2[ \t]*$", re.DOTALL | re.MULTILINE)
# an inline code span (left alone) or an inline link / image: [text](target "title")
_LINK = re.compile(r"(?P<code>(?P<ticks>`+).+?(?P=ticks))|(?P<link>!?\[(?:[^\[\]]|\[[^\]]*\])*\]\()(?P<url>[^)\s]+)(?P<rest>(?:\s+\"[^\"]*\")?\))",
                   re.DOTALL)


# ---------------------------------------------------------------------------------------------
# where a page lives in the repository, and where a link's target lives on the site


def repo_path(src_uri: str) -> str:
    """The repository path of the page at ``src_uri`` on the site."""
    for path, uri in REPO_PAGES.items():
        if uri == src_uri:
            return path
    if src_uri.startswith(ASSETS + "/"):
        return src_uri[len(ASSETS) + 1:]
    return f"{DOCS}/{src_uri}"


def link_target(page_repo_path: str, url: str) -> str | None:
    """The repository path a relative ``url`` in the page at ``page_repo_path`` points to; None for
    external links, absolute links and anchors within the page."""
    scheme, netloc, path, _, _ = urlsplit(url)
    if scheme or netloc or not path or path.startswith("/"):
        return None
    return posixpath.normpath(posixpath.join(posixpath.dirname(page_repo_path), path))


def site_uri(target: str) -> str:
    """Where the repository file ``target`` is on the site (its src_uri)."""
    if target in REPO_PAGES:
        return REPO_PAGES[target]
    if target.startswith(DOCS + "/"):
        return target[len(DOCS) + 1:]
    return f"{ASSETS}/{target}"


def outside_code(markdown: str, replace) -> str:
    """``markdown`` with ``replace(match)`` applied to every inline link outside code."""
    out, last = [], 0
    for fence in _FENCE.finditer(markdown):
        out.append(_LINK.sub(lambda m: m[0] if m["code"] else replace(m), markdown[last:fence.start()]))
        out.append(fence[0])
        last = fence.end()
    out.append(_LINK.sub(lambda m: m[0] if m["code"] else replace(m), markdown[last:]))
    return "".join(out)


def table_rows_with_a_pipe_in_code(markdown: str) -> list[str]:
    """Table rows (outside fenced code) with a code span holding '|': Python-Markdown keeps the span
    whole, GitHub splits the cell there, so the two renderings differ."""
    text = _FENCE.sub("", markdown)
    return [line for line in text.splitlines() if line.lstrip().startswith("|")
            and any("|" in code for _, code in re.findall(r"(`+)(.+?)\1", line))]


def links(markdown: str) -> list[str]:
    found = []

    def collect(m):
        found.append(m["url"])
        return m[0]

    outside_code(markdown, collect)
    return found


# ---------------------------------------------------------------------------------------------
# hooks


def on_files(files: Files, config) -> Files:
    for path, uri in REPO_PAGES.items():
        files.append(File.generated(config, uri, abs_src_path=str(ROOT / path)))
    assets: set[str] = set()
    pages = [repo_path(file.src_uri) for file in files.documentation_pages()]
    while pages:  # a linked Markdown file (a benchmark's report.md) is a page too: follow its links
        page = pages.pop()
        for url in links((ROOT / page).read_text(encoding="utf-8")):
            target = link_target(page, url)
            if target is None or target.startswith(DOCS + "/") or target in REPO_PAGES:
                continue
            if target.startswith("../") or target == "..":
                log.warning(f"{page} links to '{url}', outside the repository")
            elif (ROOT / target).is_dir():
                log.warning(f"{page} links to the folder '{url}': link a file (the site has no folder listings)")
            elif not (ROOT / target).is_file():
                log.warning(f"{page} links to '{url}', but {target} does not exist")
            elif target not in assets:
                assets.add(target)
                if target.endswith(".md"):
                    pages.append(target)
    for target in sorted(assets):
        files.append(File.generated(config, f"{ASSETS}/{target}", abs_src_path=str(ROOT / target)))
    return files


def on_page_markdown(markdown: str, page, config, files) -> str:
    here = page.file.src_uri
    page_path = repo_path(here)

    def relink(m) -> str:
        target = link_target(page_path, m["url"])
        if target is None or target.startswith("../"):
            return m[0]
        _, _, _, query, anchor = urlsplit(m["url"])
        path = posixpath.relpath(site_uri(target), posixpath.dirname(here) or ".")
        return m["link"] + urlunsplit(("", "", path, query, anchor)) + m["rest"]

    markdown = outside_code(markdown, relink)
    for line in table_rows_with_a_pipe_in_code(markdown):
        log.warning(f"{page_path}: a table row with '|' inside a code span splits there on GitHub (write it "
                    f"another way): {line}")
    if TRANSFORM_TABLE in markdown:
        markdown = markdown.replace(TRANSFORM_TABLE, transform_table())
    return markdown


# ---------------------------------------------------------------------------------------------
# the transform table


def text_constructors() -> dict:
    """Name -> constructor of every transform a reward string may call. The one place this page
    reads them from: repoint it when the registry changes."""
    if str(ROOT) not in sys.path:  # this checkout's jrew, not another one installed in the environment
        sys.path.insert(0, str(ROOT))
    from jrew.rewards import spec

    if not Path(spec.__file__).resolve().is_relative_to(ROOT):
        log.warning(f"the transform table reads {spec.__file__}, not this checkout's jrew ({ROOT})")
    return spec.TRANSFORMS


def docstring_summary(fn) -> str:
    """The first paragraph of ``fn``'s docstring; where it ends in a colon and an indented formula
    follows (RND, E3B, ICM), the formula too, as code."""
    parts = (inspect.getdoc(fn) or "").split("\n\n")
    text = " ".join(line.strip() for line in parts[0].splitlines())
    if text.endswith(":") and len(parts) > 1 and parts[1].startswith(" "):
        text += " " + "; ".join(f"`{line.strip()}`" for line in parts[1].splitlines() if line.strip())
    return table_cell(text)


def table_cell(text: str) -> str:
    """``text`` safe in a table cell: a pipe outside code is escaped (one inside a code span is kept)."""
    parts = re.split(r"(`+.+?`+)", text)
    return "".join(part if part.startswith("`") else part.replace("|", "\\|") for part in parts)


def signature(fn) -> str:
    """The constructor's signature with its annotations (its grammar), as the spec module prints it."""
    return str(inspect.signature(fn)).replace("'", "").split(" ->")[0]


def transform_table() -> str:
    rows = ["| transform | arguments (their annotations are the grammar) | what it does (its docstring) |",
            "|---|---|---|"]
    for name, fn in sorted(text_constructors().items()):
        where = f"{fn.__module__}.{fn.__qualname__}"
        rows.append(f"| [`{name}`][{where}] | `{signature(fn)}` | {docstring_summary(fn)} |")
    return "\n".join(rows)

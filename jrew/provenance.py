"""Where a result file came from: the command that wrote it, the commit it ran at, and when.

Every result file quoted in the docs records this in its ``meta`` (``benchmarks.common.write_results``
and ``experiments/method_comparison.write``), so a number can be traced to the code and command
that produced it and rerun. A commit with uncommitted changes to tracked files is marked ``+dirty``.
"""

from __future__ import annotations

import datetime
import json
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def command(argv: list[str] | None = None) -> str:
    """The command line as a user would retype it from the repository root: ``python -m
    benchmarks.x ...`` for a module run with ``-m``, ``python experiments/x.py ...`` for a script."""
    argv = list(sys.argv if argv is None else argv)
    script = Path(argv[0]).resolve() if argv and argv[0] not in ("", "-c", "-m") else None
    if script is None or not script.is_relative_to(ROOT):
        return shlex.join(["python", *argv])
    relative = script.relative_to(ROOT)
    main_module = sys.modules.get("__main__")
    if getattr(main_module, "__spec__", None) is not None:  # run as python -m package.module
        head = ["python", "-m", ".".join(relative.with_suffix("").parts)]
    else:
        head = ["python", relative.as_posix()]
    return shlex.join([*head, *argv[1:]])


def commit() -> str:
    """The repository's HEAD (short), ``+dirty`` with uncommitted changes to tracked files; ``unknown`` outside git."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()

    try:
        head = git("rev-parse", "--short", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def provenance(argv: list[str] | None = None) -> dict[str, str]:
    """``{"command", "commit", "written"}`` for a result file's meta."""
    written = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    return {"command": command(argv), "commit": commit(), "written": written}


def write_json(path: str | Path, rows: list[dict], /, *, allow_nan: bool = False, **meta) -> Path:
    """``path`` as ``{"meta": {provenance, **meta}, "rows": rows}`` (non-JSON values such as paths as
    text; NaN, which strict JSON has not, only with ``allow_nan``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"meta": {**provenance(), **meta}, "rows": rows}, indent=2, allow_nan=allow_nan,
                               default=str) + "\n")
    return path

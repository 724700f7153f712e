"""``jrew bench``: benchmark reward variants in one command.

``suite`` reads and checks a TOML suite file, ``run`` trains its groups (one compiled program
each, resumable), ``report`` writes Parquet tables, rliable statistics, plots and report.md.
"""

from jrew.bench.report import write as write_report
from jrew.bench.run import run_suite, unfinished
from jrew.bench.suite import Suite, SuiteError, load

__all__ = ["Suite", "SuiteError", "load", "run_suite", "unfinished", "write_report"]

import os
import shutil
import tempfile

import jax
import pytest

jax.config.update("jax_enable_x64", False)


def pytest_configure(config):
    """One persistent compilation cache per test session, shared by the xdist workers and the
    subprocesses tests start: the suite is compile-bound, and many tests compile the same
    program twice (train, then resume; a run, then the same seeds alone). A fresh directory per
    session keeps the suite's time honest for a fresh checkout."""
    if "JREW_TEST_JAX_CACHE" not in os.environ:  # the controller (or a run without xdist) owns it
        os.environ["JREW_TEST_JAX_CACHE"] = config._jrew_jax_cache = tempfile.mkdtemp(prefix="jrew-test-jax-cache-")
    os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", os.environ["JREW_TEST_JAX_CACHE"])
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")
    jax.config.update("jax_compilation_cache_dir", os.environ["JAX_COMPILATION_CACHE_DIR"])
    jax.config.update("jax_persistent_cache_min_compile_time_secs",
                      float(os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"]))


def pytest_unconfigure(config):
    if getattr(config, "_jrew_jax_cache", None):
        shutil.rmtree(config._jrew_jax_cache, ignore_errors=True)


@pytest.fixture
def key():
    return jax.random.PRNGKey(0)

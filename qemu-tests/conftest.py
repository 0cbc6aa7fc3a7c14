# conftest.py (qemu-tests) — options of the QEMU tests beyond the harness's own
# (harness/plugin.py): the duration of the SMP stress tests (docs/image.md, docs/smp.md).
from __future__ import annotations

import os

import pytest

STRESS_ENV = "DOPPEL_STRESS_SECONDS"
STRESS_DEFAULT_S = 60


def _seconds(text: str) -> int:
    try:
        n = int(text, 10)
    except ValueError:
        n = 0
    if not 1 <= n <= 24 * 3600:
        raise pytest.UsageError(f"stress duration '{text}' is not a whole number of seconds from 1 to 86400")
    return n


def pytest_addoption(parser):
    parser.getgroup("doppel").addoption(
        "--stress-seconds", default=None, metavar="N",
        help=f"duration of the IPI + TLB-shootdown storm (kernel word stress.seconds=N); "
             f"default ${STRESS_ENV} or {STRESS_DEFAULT_S}")


@pytest.fixture(scope="session")
def stress_seconds(request) -> int:
    """Seconds the storm runs: --stress-seconds, else $DOPPEL_STRESS_SECONDS, else 60."""
    opt = request.config.getoption("--stress-seconds")
    if opt is not None:
        return _seconds(opt)
    env = os.environ.get(STRESS_ENV)
    return _seconds(env) if env else STRESS_DEFAULT_S

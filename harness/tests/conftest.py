# Fixtures for the harness's own tests: pytester (to run the plugin inside a test)
# and the fake machine that speaks docs/protocol.md without a kernel.
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

FAKE = Path(__file__).parent / "fake_machine.py"


@pytest.fixture
def fake_binary() -> Path:
    return FAKE

# Fixtures for the harness's own tests: the fake machine that speaks
# docs/protocol.md without a kernel (pytester, also used here, is loaded by the
# root conftest.py: pytest accepts pytest_plugins only there).
from pathlib import Path

import pytest

FAKE = Path(__file__).parent / "fake_machine.py"


@pytest.fixture
def fake_binary() -> Path:
    return FAKE

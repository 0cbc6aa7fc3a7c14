# Root conftest: loads the Doppel pytest plugin (harness/plugin.py) for every test
# folder (harness/tests, tests/sim, qemu-tests) and keeps Hypothesis's example
# database inside build/ rather than the source tree.
import os

from hypothesis import settings
from hypothesis.database import DirectoryBasedExampleDatabase

pytest_plugins = ["harness.plugin"]

_here = os.path.dirname(os.path.abspath(__file__))
settings.register_profile(
    "doppel", database=DirectoryBasedExampleDatabase(os.path.join(_here, "build", "hypothesis")))
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "doppel"))

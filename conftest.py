# Root conftest: loads the Doppel pytest plugin (harness/plugin.py) for every test
# folder (harness/tests, tests/sim, qemu-tests) plus pytester for the plugin's own
# tests, and keeps Hypothesis's example database in build/, out of the source tree.
import os

from hypothesis import settings
from hypothesis.database import DirectoryBasedExampleDatabase

pytest_plugins = ["harness.plugin", "pytester"]

_here = os.path.dirname(os.path.abspath(__file__))
settings.register_profile(
    "doppel", database=DirectoryBasedExampleDatabase(os.path.join(_here, "build", "hypothesis")))
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "doppel"))

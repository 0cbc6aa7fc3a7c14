# Targets: the ways of running the Doppel kernel (doppel-sim, QEMU), one class each
# over the shared Target base (run → RunResult). See docs/harness.md.
from harness.targets.base import RunResult, Target
from harness.targets.qemu import QemuTarget, TargetConfigError, kvm_usable
from harness.targets.sim import SimTarget

__all__ = ["RunResult", "Target", "SimTarget", "QemuTarget", "TargetConfigError", "kvm_usable"]

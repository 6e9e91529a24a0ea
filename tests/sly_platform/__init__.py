"""Test support: a loopback emulator of the Supervisely platform (never installed with the
package; ``scripts/sly_bench.py`` puts ``tests/`` on the path to use it)."""

from .emulator import Call, SuperviselyEmulator
from .faults import Fault
from .frames import DavisSequence, davis, default_frame

__all__ = ["Call", "DavisSequence", "Fault", "SuperviselyEmulator", "davis", "default_frame"]

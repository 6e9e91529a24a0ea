"""Data: dataset layouts (DAVIS, YouTube-VOS, generic) and their sequences, synthetic videos.

The unit of data of evaluation and training alike is :class:`EvalSequence`.
"""

from xmem.data.datasets import load_dataset
from xmem.data.layouts import LAYOUTS, Layout, detect_layout
from xmem.data.sequence import Dataset, EvalSequence

__all__ = ["LAYOUTS", "Dataset", "EvalSequence", "Layout", "detect_layout", "load_dataset"]

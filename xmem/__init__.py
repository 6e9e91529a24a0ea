"""XMem long-term video object segmentation.

Five lines to track objects through a video::

    import xmem
    model = xmem.from_pretrained("XMem")              # or a checkpoint path
    for result in xmem.track(model, "video.mp4", {0: first_frame_ids}):
        ...  # result.index, result.mask (H×W object ids), result.object_ids

Options (inference config, size, precision, fast paths) travel as one value,
:class:`TrackOptions`. To track several videos, make a :class:`Tracker` once: it prepares the
network with the options' fast paths (batch norm folded, channels-last, optionally compiled)::

    tracker = xmem.Tracker(model, xmem.TrackOptions(precision="bf16"))
    for result in tracker.track("video.mp4", {0: first_frame_ids}):
        ...
"""

from xmem.errors import ConfigError, XMemError
from xmem.inference.config import InferenceConfig
from xmem.inference.core import InferenceCore
from xmem.inference.options import TrackOptions
from xmem.inference.speed import SpeedOptions, prepare_network
from xmem.inference.tracker import FrameResult, ObjectMasks, Tracker, track
from xmem.model.checkpoint import load_network
from xmem.model.network import ModelConfig, XMem
from xmem.model.weights import from_pretrained

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "FrameResult",
    "InferenceConfig",
    "InferenceCore",
    "ModelConfig",
    "ObjectMasks",
    "SpeedOptions",
    "TrackOptions",
    "Tracker",
    "XMem",
    "XMemError",
    "from_pretrained",
    "load_network",
    "prepare_network",
    "track",
    "__version__",
]

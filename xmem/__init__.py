"""XMem long-term video object segmentation.

Five lines to track objects through a video::

    import xmem
    model = xmem.from_pretrained("XMem")              # or a checkpoint path
    for result in xmem.track(model, "video.mp4", {0: first_frame_ids}):
        ...  # result.index, result.mask (H×W object ids), result.object_ids

For speed, prepare the network once (batch norm folded, channels-last, optionally compiled)
and pass the same options: ``xmem.track(xmem.prepare_network(model, opts), ..., speed=opts)``
with ``opts = xmem.SpeedOptions()``.
"""

from xmem.errors import XMemError
from xmem.inference.config import InferenceConfig
from xmem.inference.core import InferenceCore
from xmem.inference.speed import SpeedOptions, prepare_network
from xmem.inference.tracker import FrameResult, ObjectMasks, track
from xmem.model.checkpoint import load_network
from xmem.model.network import ModelConfig, XMem
from xmem.model.weights import from_pretrained

__version__ = "0.1.0"

__all__ = [
    "FrameResult",
    "InferenceConfig",
    "InferenceCore",
    "ModelConfig",
    "ObjectMasks",
    "SpeedOptions",
    "XMem",
    "XMemError",
    "from_pretrained",
    "load_network",
    "prepare_network",
    "track",
    "__version__",
]

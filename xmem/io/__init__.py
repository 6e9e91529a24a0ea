"""Input and output: frame sources, annotation masks, staged output and overlay videos."""

from xmem.io.frames import ImageFolderSource, open_frames
from xmem.io.masks import Mask, default_palette, find_annotations, read_mask, write_mask
from xmem.io.output import StagedDirectory, atomic_output_file
from xmem.io.overlay import render_overlay
from xmem.io.source import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, FrameSource
from xmem.io.video import VideoSource

__all__ = [
    "IMAGE_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "FrameSource",
    "ImageFolderSource",
    "Mask",
    "StagedDirectory",
    "VideoSource",
    "atomic_output_file",
    "default_palette",
    "find_annotations",
    "open_frames",
    "read_mask",
    "render_overlay",
    "write_mask",
]

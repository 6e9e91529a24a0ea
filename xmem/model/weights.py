"""Pretrained weights: the table of official checkpoints, the cache, downloading and resolving.

Official checkpoints are the assets of release v1.0 of ``hkchengrex/XMem``. They are downloaded
on demand into a cache directory outside the source tree:

- ``$XMEM_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/xmem``, else ``~/.cache/xmem``;
- ``$XMEM_WEIGHTS_MIRROR`` (a base URL, e.g. an internal mirror or ``file:///dir/``) replaces
  the part of the official URL before the file name.

A download (:mod:`xmem.model.download`) goes to a temporary file in the cache directory and is
renamed onto the final name only once it is complete and verified.

The project-trained model ``xmem-lite0`` (:data:`BUNDLED_DEFAULT`) ships inside the package
(``xmem/weights/``, see ``docs/model-card.md``). It is the default when the official
``XMem`` checkpoint is not in the cache, so the package tracks offline; asking for ``XMem``
by name still downloads it.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from xmem.errors import XMemError
from xmem.model.checkpoint import load_network
from xmem.model.download import DOWNLOAD_TIMEOUT, fetch_checkpoint
from xmem.model.network import XMem

logger = logging.getLogger(__name__)

RELEASE_URL = "https://github.com/hkchengrex/XMem/releases/download/v1.0/"
DEFAULT_WEIGHTS = "XMem"
BUNDLED_DEFAULT = "xmem-lite0"
BUNDLED_DIR = Path(__file__).resolve().parent.parent / "weights"
_PATH_SUFFIXES = (".pth", ".pt", ".ckpt")


@dataclass(frozen=True)
class WeightInfo:
    """One downloadable checkpoint. ``sha256``/``size`` are checked when known."""

    name: str
    url: str
    filename: str
    description: str
    model: str  # its architecture, a name of MODELS (xmem.model.network)
    sha256: str | None = None
    size: int | None = None
    bundled: bool = False  # shipped in BUNDLED_DIR, never downloaded
    process_size: int = 480  # default shorter side to process at (track, eval, serve, API)
    adapt_steps: int = 0  # default test-time adaptation steps (track, eval, serve, gui, API)
    flip: bool = False  # test-time flip by default (track, eval, serve, gui, API)


def _official(name: str, description: str, model: str = "xmem") -> WeightInfo:
    filename = f"{name}.pth"
    return WeightInfo(
        name=name,
        url=RELEASE_URL + filename,
        filename=filename,
        description=description,
        model=model,
    )


# xmem-lite0 adapts to the given frame and tracks with test-time flip by default: chosen from
# the dev trade-off of J&F and time (docs/model-card.md, "Test-time adaptation" and "Test-time
# flip"); the other models are not measured with them
LITE0_ADAPT_STEPS = 25
LITE0_FLIP = True

# Hashes and sizes of the release assets are not recorded here: the strict load is the check.
WEIGHTS: dict[str, WeightInfo] = {
    info.name: info
    for info in (
        _official(
            "XMem",
            "main training (static-image pretraining, then DAVIS + YouTube-VOS)",
        ),
        _official(
            "XMem-s012",
            "as XMem, with additional BL30K pretraining",
        ),
        _official(
            "XMem-s2",
            "DAVIS + YouTube-VOS only, no static-image pretraining",
        ),
        _official(
            "XMem-no-sensory",
            "XMem without sensory memory",
            model="xmem-no-sensory",
        ),
        WeightInfo(
            name="xmem-lite0",
            url="",
            filename="xmem-lite0.pth",
            description="compact model on ImageNet-pretrained EfficientNet-Lite0 trunks, trained "
            "by this project, ships with the package (docs/model-card.md)",
            model="xmem-lite0",
            bundled=True,
            process_size=240,
            adapt_steps=LITE0_ADAPT_STEPS,
            flip=LITE0_FLIP,
        ),
        WeightInfo(
            name="xmem-compact",
            url="",
            filename="xmem-compact.pth",
            description="the earlier default, trained from scratch by this project; ships with "
            "the package as a baseline (docs/model-card.md)",
            model="xmem-compact",
            bundled=True,
            process_size=240,
        ),
    )
}


def _known_names() -> str:
    return ", ".join(WEIGHTS)


def find_weights(name: str) -> WeightInfo | None:
    """The table entry for ``name`` (case-insensitive, with or without ``.pth``), or None."""
    key = name.strip().lower().removesuffix(".pth")
    for info in WEIGHTS.values():
        if info.name.lower() == key:
            return info
    return None


def weight_info(name: str) -> WeightInfo:
    """The table entry for ``name``; XMemError listing the known names when there is none."""
    info = find_weights(name)
    if info is None:
        raise XMemError(f"unknown weights '{name}'; known names: {_known_names()}")
    return info


def cache_dir() -> Path:
    """Where downloaded weights live.

    ``$XMEM_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/xmem``, else ``~/.cache/xmem``.
    """
    explicit = os.environ.get("XMEM_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        return Path(xdg).expanduser() / "xmem"
    return Path.home() / ".cache" / "xmem"


def cached_path(name: str | WeightInfo) -> Path:
    """The path the weights ``name`` have (or would have) in the cache; bundled weights: their
    file in the package."""
    info = name if isinstance(name, WeightInfo) else weight_info(name)
    return (BUNDLED_DIR if info.bundled else cache_dir()) / info.filename


def weights_url(info: WeightInfo | str) -> str:
    """The download URL, with ``$XMEM_WEIGHTS_MIRROR`` replacing the base when it is set."""
    if isinstance(info, str):
        info = weight_info(info)
    mirror = os.environ.get("XMEM_WEIGHTS_MIRROR", "").strip()
    if not mirror:
        return info.url
    return mirror.rstrip("/") + "/" + info.filename


def download(
    name: str,
    force: bool = False,
    progress: bool = True,
    timeout: float = DOWNLOAD_TIMEOUT,
) -> Path:
    """Download the weights ``name`` into the cache (unless already there) and return the path.

    The file is verified (length, sha256 when known, strict load) before it gets its final
    name; failures raise a one-line XMemError naming the URL and where to put the file by hand.
    """
    info = weight_info(name)
    if info.bundled:
        return _bundled(info)
    target = cache_dir() / info.filename
    if target.is_file() and not force:
        logger.debug("%s already cached at %s", info.name, target)
        return target
    fetch_checkpoint(
        weights_url(info),
        target,
        size=info.size,
        sha256=info.sha256,
        progress=progress,
        timeout=timeout,
    )
    return target


def _bundled(info: WeightInfo) -> Path:
    path = cached_path(info)
    if not path.is_file():
        raise XMemError(f"the bundled weights {path} are missing: reinstall the package")
    return path


def _default_weights(download_missing: bool) -> Path:
    """The official XMem checkpoint when it is in the cache, else the bundled
    :data:`BUNDLED_DEFAULT` (offline), else XMem downloaded."""
    official = cached_path(DEFAULT_WEIGHTS)
    if official.is_file():
        return official
    bundled = cached_path(BUNDLED_DEFAULT)
    if bundled.is_file():
        logger.info(
            "using the bundled %s model (%s is not in the cache; `xmem weights download %s` "
            "for the published accuracy)",
            BUNDLED_DEFAULT,
            DEFAULT_WEIGHTS,
            DEFAULT_WEIGHTS,
        )
        return bundled
    return resolve_weights(DEFAULT_WEIGHTS, download_missing)


def _looks_like_path(text: str) -> bool:
    separators = [s for s in (os.sep, os.altsep, "/") if s]
    return any(s in text for s in separators) or text.lower().endswith(_PATH_SUFFIXES)


def resolve_weights(name_or_path: str | Path | None, download_missing: bool = True) -> Path:
    """Turn a weights name or a checkpoint path into an existing file.

    None means :data:`DEFAULT_WEIGHTS` when it is in the cache, else the bundled
    :data:`BUNDLED_DEFAULT`.
    An existing file is returned as is; a known name gives its cached (or bundled) file,
    downloaded when missing and ``download_missing``.
    """
    if name_or_path is None:
        return _default_weights(download_missing)
    text = str(name_or_path)
    path = Path(text).expanduser()
    if path.is_file():
        return path
    if path.is_dir() and (isinstance(name_or_path, Path) or _looks_like_path(text)):
        raise XMemError(f"checkpoint '{text}' is a directory, not a file")
    info = None if isinstance(name_or_path, Path) else find_weights(text)
    if info is not None and info.bundled:
        return _bundled(info)
    if info is not None:
        target = cache_dir() / info.filename
        if target.is_file():
            return target
        if download_missing:
            return download(info.name)
        raise XMemError(
            f"{info.filename} is not in the cache and downloading is disabled; "
            f"get it from {weights_url(info)} and put it at {target}, "
            f"or pass --weights /path/to/{info.filename}"
        )
    if isinstance(name_or_path, Path) or _looks_like_path(text):
        raise XMemError(f"checkpoint file '{text}' does not exist")
    raise XMemError(
        f"unknown weights '{text}'; known names: {_known_names()} (or pass a checkpoint path)"
    )


def table_entry(path: Path) -> WeightInfo | None:
    """The table entry whose cached or bundled file ``path`` is, or None."""
    for info in WEIGHTS.values():
        candidate = cached_path(info)
        if candidate.is_file() and candidate.samefile(path):
            return info
    return None


def weights_process_size(name_or_path: str | Path | None) -> int:
    """The processing size the weights ``name_or_path`` run at by default (480 outside the
    table), without loading them."""
    info = table_entry(resolve_weights(name_or_path, download_missing=False))
    return info.process_size if info is not None else XMem.default_size


def from_pretrained(
    name_or_path: str | Path | None = None,
    device: str | torch.device = "cpu",
    download_missing: bool = True,
) -> XMem:
    """A network with pretrained weights (eval mode), by name (downloaded on demand) or path.

    Weights of the table get their processing size as ``network.default_size``, their
    test-time adaptation steps as ``network.default_adapt_steps`` and test-time flip as
    ``network.default_flip``; any other checkpoint keeps the paper's 480, no adaptation and
    no flip.
    """
    path = resolve_weights(name_or_path, download_missing)
    network = load_network(path, device)
    info = table_entry(path)
    if info is not None:
        network.default_size = info.process_size
        network.default_adapt_steps = info.adapt_steps
        network.default_flip = info.flip
    return network


def list_weights() -> list[tuple[WeightInfo, Path | None]]:
    """Every known checkpoint with its cached (or bundled) path, or None when it is not
    there."""
    return [
        (info, path if (path := cached_path(info)).is_file() else None) for info in WEIGHTS.values()
    ]


__all__ = [
    "BUNDLED_DEFAULT",
    "BUNDLED_DIR",
    "DEFAULT_WEIGHTS",
    "WEIGHTS",
    "WeightInfo",
    "cache_dir",
    "cached_path",
    "download",
    "find_weights",
    "from_pretrained",
    "list_weights",
    "resolve_weights",
    "table_entry",
    "weights_process_size",
    "weight_info",
    "weights_url",
]

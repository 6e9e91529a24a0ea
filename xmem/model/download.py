"""Downloading one checkpoint: streamed into a temporary file, verified, then renamed.

A download goes to a temporary ``<file>.part-<random>`` beside the target and is renamed onto
the final name only once it is complete and verified (length, sha256 when known, and a strict
load into the network); on any failure the temporary file is removed. The table of known
weights and the cache live in :mod:`xmem.model.weights`.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import socket
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from tqdm.std import tqdm

from xmem.errors import XMemError
from xmem.model.checkpoint import build_network, read_state_dict

logger = logging.getLogger(__name__)

DOWNLOAD_TIMEOUT = 30.0  # seconds, for connecting and for each read
_CHUNK = 1 << 20


def _manual_hint(filename: str, target: Path) -> str:
    return f"download it yourself and put it at {target}, or pass --weights /path/to/{filename}"


def _failure(url: str, target: Path, reason: str) -> XMemError:
    reason = " ".join(str(reason).split()) or "unknown error"
    return XMemError(
        f"could not download {target.name} from {url} ({reason}); "
        f"{_manual_hint(target.name, target)}"
    )


def _reason(error: BaseException) -> str:
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}".strip()
    if isinstance(error, urllib.error.URLError):
        inner = error.reason
        if isinstance(inner, BaseException):
            return _reason(inner)
        return str(inner)
    if isinstance(error, (TimeoutError, socket.timeout)):
        return "timed out"
    if isinstance(error, http.client.IncompleteRead):
        return "connection closed before the download was complete"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error) or type(error).__name__


def _fetch(url: str, dest: Path, progress: bool, timeout: float) -> tuple[int, int | None, str]:
    """Stream ``url`` into ``dest``: (bytes received, Content-Length or None, sha256 hex)."""
    request = urllib.request.Request(url, headers={"User-Agent": "xmem"})
    digest = hashlib.sha256()
    received = 0
    with urllib.request.urlopen(request, timeout=timeout) as response:
        header = response.headers.get("Content-Length")
        try:
            expected = int(header) if header is not None else None
        except ValueError:
            expected = None
        with (
            open(dest, "wb") as out,
            tqdm(
                total=expected,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=dest.name.split(".part-")[0],
                disable=True if not progress else None,  # None: off when not a tty
                leave=False,
            ) as bar,
        ):
            while True:
                chunk = response.read(_CHUNK)
                if not chunk:
                    break
                out.write(chunk)
                digest.update(chunk)
                received += len(chunk)
                bar.update(len(chunk))
    return received, expected, digest.hexdigest()


def fetch_checkpoint(
    url: str,
    target: Path,
    *,
    size: int | None = None,
    sha256: str | None = None,
    progress: bool = True,
    timeout: float = DOWNLOAD_TIMEOUT,
) -> None:
    """Download the checkpoint at ``url`` to ``target`` (its folder is created), verified.

    ``size`` (bytes) and ``sha256`` (hex) are checked when given, and the file must load
    strictly into the network; any failure raises a one-line XMemError naming the URL and
    where to put the file by hand, and leaves no partial file.
    """
    filename = target.name
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f"{filename}.part-", dir=target.parent)
    except OSError as e:
        raise XMemError(
            f"cannot write to the weights cache {target.parent} ({_reason(e)}); "
            f"set XMEM_CACHE_DIR to a writable directory or pass --weights /path/to/{filename}"
        ) from e
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        logger.info("downloading %s from %s", filename, url)
        try:
            received, expected, digest = _fetch(url, tmp, progress, timeout)
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as e:
            if isinstance(e, urllib.error.HTTPError):
                e.close()
            raise _failure(url, target, _reason(e)) from e
        if expected is not None and received != expected:
            raise _failure(url, target, f"truncated: received {received} of {expected} bytes")
        if size is not None and received != size:
            raise _failure(url, target, f"wrong size: received {received} bytes, expected {size}")
        if sha256 is not None and digest != sha256.lower():
            raise _failure(url, target, f"sha256 mismatch: got {digest}")
        try:
            build_network(read_state_dict(tmp), source=f"{filename} from {url}")
        except XMemError as e:
            detail = str(e).replace(str(tmp), filename)
            raise XMemError(
                f"the file downloaded from {url} is not a valid XMem checkpoint ({detail}); "
                f"{_manual_hint(filename, target)}"
            ) from e
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    logger.info("saved %s", target)


__all__ = ["DOWNLOAD_TIMEOUT", "fetch_checkpoint"]

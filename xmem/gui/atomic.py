"""Writing the project's files atomically, with a message a person can act on when it fails."""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from collections.abc import Callable
from pathlib import Path

from xmem.errors import DiskFullError, XMemError


def write_error(what: str, exc: OSError) -> XMemError:
    """The error to show for a failed write of ``what`` (a full disk said so plainly)."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return DiskFullError(
            f"cannot save {what}: the disk is full (no space left on device); free some space "
            "and try again"
        )
    return XMemError(f"cannot save {what}: {exc.strerror or exc}")


def replace_atomically(target: Path, write: Callable[[Path], object], what: str) -> None:
    """Call ``write(tmp)`` on a temporary sibling of ``target``, then rename it into place:
    on failure the previous ``target`` stays as it was and no temporary file is left."""
    tmp = target.with_name(f".{target.stem}.tmp-{secrets.token_hex(4)}{target.suffix}")
    try:
        write(tmp)
        os.replace(tmp, target)
    except OSError as exc:
        raise write_error(what, exc) from exc
    except XMemError as exc:
        cause = exc.__cause__
        if isinstance(cause, OSError):
            raise write_error(what, cause) from exc
        raise
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)

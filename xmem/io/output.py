"""Output staging, so that a failed run leaves nothing half-written.

Results are written into a hidden sibling of the real destination and moved into place
only when everything succeeded.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

from xmem.errors import XMemError

logger = logging.getLogger(__name__)


def _make_parents(folder: Path, fail: str) -> list[Path]:
    """Create ``folder`` and missing ancestors; return the created ones, deepest last.

    ``fail`` starts the error message, e.g. ``"cannot write to output folder 'out'"``.
    """
    missing: list[Path] = []
    existing = folder
    while not existing.exists() and existing != existing.parent:
        missing.append(existing)
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        raise XMemError(f"{fail}: '{existing}' is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise XMemError(f"{fail}: no permission to write in '{existing}'")
    created: list[Path] = []
    for path in reversed(missing):
        try:
            path.mkdir()
        except FileExistsError:
            continue
        except OSError as exc:
            _remove_dirs(created)
            raise XMemError(f"{fail}: {exc.strerror or exc}") from exc
        created.append(path)
    return created


def _remove_dirs(created: list[Path]) -> None:
    """Remove folders made by :func:`_make_parents` (deepest first) if still empty."""
    for path in reversed(created):
        try:
            path.rmdir()
        except OSError:
            break


def _partial_name(target: Path, suffix: str = "") -> Path:
    stem = target.stem if suffix else target.name
    return target.parent / f".{stem}.partial-{secrets.token_hex(4)}{suffix}"


class StagedDirectory:
    """Context manager that stages files for the folder ``target``.

    Write into :attr:`path` (a hidden sibling of ``target``). On success every staged
    entry is moved into ``target`` (created if missing; same-named files are overwritten,
    other files in ``target`` are kept). On an exception the staging folder is deleted,
    ``target`` is left untouched and the exception propagates.
    """

    def __init__(self, target: str | Path) -> None:
        self.target = Path(target)
        self._abs = Path(os.path.abspath(self.target))  # "out/.." and "." work too
        self.path = _partial_name(self._abs)
        self._created: list[Path] = []

    def __enter__(self) -> StagedDirectory:
        fail = f"cannot write to output folder '{self.target}'"
        if self.target.exists():
            if not self.target.is_dir():
                raise XMemError(f"{fail}: it exists and is not a folder")
            if not os.access(self.target, os.W_OK | os.X_OK):
                raise XMemError(f"{fail}: permission denied")
        self._created = _make_parents(self._abs.parent, fail)
        while True:
            try:
                os.mkdir(self.path)
                break
            except FileExistsError:
                self.path = _partial_name(self._abs)
            except OSError as exc:
                _remove_dirs(self._created)
                raise XMemError(f"{fail}: {exc.strerror or exc}") from exc
        logger.debug("staging output for %s in %s", self.target, self.path)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            shutil.rmtree(self.path, ignore_errors=True)
            _remove_dirs(self._created)
            return
        try:
            self._merge(self.path, self._abs)
        except OSError as err:
            raise XMemError(
                f"cannot write to output folder '{self.target}': {err.strerror or err}"
            ) from err
        finally:
            shutil.rmtree(self.path, ignore_errors=True)

    def _merge(self, src: Path, dst: Path) -> None:
        if not dst.exists():
            os.replace(src, dst)
            return
        for entry in sorted(src.iterdir()):
            dest = dst / entry.name
            if entry.is_dir() and not entry.is_symlink():
                if dest.exists() and not dest.is_dir():
                    raise XMemError(
                        f"cannot write to output folder '{self.target}': '{dest}' is a file"
                    )
                self._merge(entry, dest)
            else:
                if dest.is_dir() and not dest.is_symlink():
                    raise XMemError(
                        f"cannot write to output folder '{self.target}': '{dest}' is a folder"
                    )
                os.replace(entry, dest)


@contextmanager
def atomic_output_file(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; it replaces ``target`` on success.

    The temporary file has the same suffix as ``target`` (so encoders can infer the
    format) and is deleted if the body raises.

    Raises:
        XMemError: ``target`` is a folder or its folder cannot be written.
    """
    target = Path(target)
    fail = f"cannot write output file '{target}'"
    if target.is_dir():
        raise XMemError(f"{fail}: it is a folder")
    absolute = Path(os.path.abspath(target))
    created = _make_parents(absolute.parent, fail)
    while True:
        tmp = _partial_name(absolute, absolute.suffix)
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            break
        except FileExistsError:
            continue
        except OSError as exc:
            _remove_dirs(created)
            raise XMemError(f"{fail}: {exc.strerror or exc}") from exc
    try:
        yield tmp
    except BaseException:
        tmp.unlink(missing_ok=True)
        _remove_dirs(created)
        raise
    try:
        os.replace(tmp, absolute)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise XMemError(f"{fail}: {exc.strerror or exc}") from exc

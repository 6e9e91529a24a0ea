"""User-facing errors.

Anything a user can cause (bad input files, wrong options, missing weights) raises
:class:`XMemError` with a one-line message. The CLI prints that line and exits non-zero;
everything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class XMemError(Exception):
    """A problem with the user's input or environment, explained in one line.

    ``status`` is the HTTP status a server answers it with (a front end chooses by the
    error's type, never by its words): 400, the request was wrong.
    """

    status = 400


class BusyError(XMemError):
    """The request waits on work in progress (a running job): 409, try again after it."""

    status = 409


class DiskFullError(XMemError):
    """Nothing could be written, the disk is full: 507."""

    status = 507


class ConfigError(XMemError, ValueError):
    """An invalid option value, explained with the names of the config fields involved.

    ``fields`` lists those names as they appear in the message, so that a front end can name
    its own options instead (the command line turns ``top_k`` into ``--top-k``).
    """

    def __init__(self, message: str, *fields: str) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields

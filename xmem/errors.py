"""User-facing errors.

Anything a user can cause (bad input files, wrong options, missing weights) raises
:class:`XMemError` with a one-line message. The CLI prints that line and exits non-zero;
everything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class XMemError(Exception):
    """A problem with the user's input or environment, explained in one line."""

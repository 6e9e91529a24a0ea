"""Command-line flags made from config dataclasses: the one way a config's fields become
flags, and the flags given become the config's values, for every command.

A front end declares which config it exposes, with a help text per field (and choices where
the config has them); the flag's name, type, default and parsing follow from the field. Every
generated flag defaults to None ("not given"), so a config is built from its own defaults,
then a file or a base config, then the flags given; the config checks the values
(:class:`~xmem.errors.ConfigError`), and :func:`option_errors` names the flags in its message.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import re
import types
import typing
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from xmem.errors import ConfigError, XMemError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

# fields whose flag is not ``--`` + the field name with dashes
FLAGS = {"enable_long_term": "--disable-long-term", "adapt_steps": "--adapt"}
C = TypeVar("C", bound="DataclassInstance")


@dataclass(frozen=True)
class Help:
    """How a front end shows one field: its help text, and optionally the values it takes,
    a metavar, and whether the default is appended to the help ("(default …)")."""

    text: str
    choices: tuple[str, ...] | None = None
    metavar: str | None = None
    show_default: bool = True


def flag(field: str, flags: Mapping[str, str] | None = None) -> str:
    """The command-line flag of a config field: ``flags``, then :data:`FLAGS`, else
    ``--field-name``."""
    if flags is not None and field in flags:
        return flags[field]
    return FLAGS.get(field, "--" + field.replace("_", "-"))


def flag_message(error: ConfigError, flags: Mapping[str, str] | None = None) -> str:
    """A config error's message with the fields it names written as command-line flags."""
    if not error.fields:
        return error.message
    names = "|".join(re.escape(f) for f in sorted(set(error.fields), key=len, reverse=True))
    return re.sub(rf"(?<![\w-])({names})(?![\w-])", lambda m: flag(m[1], flags), error.message)


@contextlib.contextmanager
def option_errors(flags: Mapping[str, str] | None = None) -> Iterator[None]:
    """Build configs from command-line options inside: a :class:`ConfigError` becomes an
    XMemError that names the flags instead of the fields."""
    try:
        yield
    except ConfigError as e:
        raise XMemError(flag_message(e, flags)) from e


def add_config_flags(
    group: argparse._ActionsContainer,
    config: type,
    helps: Mapping[str, str | Help],
    exclude: Collection[str] = (),
) -> None:
    """One flag per field of the dataclass ``config`` (but ``exclude``), named by
    :func:`flag`, typed by the field's annotation, with ``helps[field]`` as its help.

    A bool field gets ``--x`` / ``--no-x``; one whose flag is named as an off switch in
    :data:`FLAGS` (``--disable-…``) gets only that. A ``tuple[X, ...]`` field takes values
    separated by commas.
    """
    hints = typing.get_type_hints(config)
    for f in dataclasses.fields(config):
        if f.name in exclude or not f.init:
            continue
        shown = helps.get(f.name, f.name.replace("_", " "))
        spec = shown if isinstance(shown, Help) else Help(shown)
        default = _default(f)
        text = spec.text
        if spec.show_default and default is not None:
            text += f" (default {_format(default)})"
        kind = _unwrap(hints[f.name])
        name = flag(f.name)
        common: dict[str, Any] = {"dest": f.name, "default": None, "help": text}
        if kind is bool and name.startswith(("--disable-", "--no-")):
            group.add_argument(name, action="store_const", const=not default, **common)
        elif kind is bool:
            group.add_argument(name, action=argparse.BooleanOptionalAction, **common)
        else:
            group.add_argument(
                name, type=_parser(kind), choices=spec.choices, metavar=spec.metavar, **common
            )


def given(config: type, args: argparse.Namespace, exclude: Collection[str] = ()) -> dict[str, Any]:
    """The fields of ``config`` given on the command line (flags made by
    :func:`add_config_flags`), as keyword arguments."""
    names = (f.name for f in dataclasses.fields(config) if f.init and f.name not in exclude)
    return {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}


def from_args(base: C, args: argparse.Namespace, exclude: Collection[str] = ()) -> C:
    """The config ``base`` with the fields given on the command line replaced; checked by
    the config (a ConfigError names the flags)."""
    with option_errors():
        return dataclasses.replace(base, **given(type(base), args, exclude))


def _default(f: dataclasses.Field[Any]) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def _format(value: object) -> str:
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value) or "none"
    return str(value)


def _unwrap(hint: Any) -> Any:
    """``X`` of ``X | None``; the hint itself otherwise."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        kinds = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(kinds) == 1:
            return kinds[0]
    return hint


def _parser(kind: Any) -> Callable[[str], Any]:
    """The function turning a flag's text into a value of the field's type."""
    if typing.get_origin(kind) is tuple:
        item = _parser(typing.get_args(kind)[0])

        def items(text: str) -> tuple[Any, ...]:
            return tuple(item(v.strip()) for v in text.split(",") if v.strip())

        items.__name__ = f"comma-separated {getattr(item, '__name__', 'value')}"
        return items
    if kind in (int, float, str, Path):
        return typing.cast(Callable[[str], Any], kind)
    return str

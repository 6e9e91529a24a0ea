"""``xmem`` command line: one sub-command per module of this package."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from xmem.errors import XMemError

logger = logging.getLogger("xmem")

COMMANDS = ("track", "eval", "benchmark", "train", "serve", "gui", "export", "weights")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="xmem", description="XMem long-term video object segmentation"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        module = __import__(f"xmem.cli.{name}", fromlist=["add_parser"])
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    fmt = "%(levelname)s %(name)s: %(message)s" if args.verbose else "%(message)s"
    logging.basicConfig(level=level, format=fmt)
    try:
        return int(args.run(args) or 0)
    except XMemError as e:
        logger.error("error: %s", e)
        return 2
    except KeyboardInterrupt:
        logger.error("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())

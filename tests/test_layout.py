"""The layout of docs/architecture.md, kept true: which room imports which, the four modules of
`train` that `inference` may use, commands that import no other command, and no function in
`xmem/` over 60 lines."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "xmem"

# room -> the rooms it may import (docs/architecture.md's arrows; `errors` is for everyone)
ARROWS: dict[str, set[str]] = {
    "errors": set(),
    "io": set(),
    "memory": set(),
    "model": {"memory"},  # the memory read's math (memory/ops.py) runs inside the network
    "runtime": set(),
    "data": {"io"},
    "inference": {"io", "memory", "model", "train"},  # train: the four modules below only
    "eval": {"data", "inference", "io", "model"},
    "bench": {"data", "inference", "io", "model", "runtime"},
    "train": {"data", "eval", "inference", "io", "model", "runtime"},
    "gui": {"inference", "io", "memory", "model", "runtime"},
    "integrations": {"inference", "io", "runtime"},
    "cli": {
        "bench",
        "data",
        "eval",
        "gui",
        "inference",
        "integrations",
        "io",
        "model",
        "runtime",
        "train",
    },
    "__init__": {"inference", "model"},
    "__main__": {"cli"},
}
# what test-time adaptation takes from `train`: modules that import nothing above `inference`
TRAIN_FOR_INFERENCE = {"augment", "colour", "hard_cases", "forward", "loss"}
CLI_SHARED = {"flags", "options"}
MAX_FUNCTION_LINES = 60


def _modules() -> list[tuple[tuple[str, ...], ast.Module]]:
    """(dotted path inside xmem, parsed source) of every module of the package."""
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts[-1] == "__init__" and len(parts) > 1:
            parts = parts[:-1]
        out.append((parts, ast.parse(path.read_text(), filename=str(path))))
    return out


def _imports(parts: tuple[str, ...], tree: ast.Module) -> list[tuple[str, ...]]:
    """The xmem modules a module imports, as paths inside xmem (relative imports resolved)."""
    found = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level:
            base = ("xmem", *parts[: len(parts) - node.level])
            names = [".".join(base + ((node.module,) if node.module else ()))]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        found += [tuple(n.split(".")[1:]) for n in names if n.split(".")[0] == "xmem"]
    return [f for f in found if f]


def test_rooms_import_only_along_the_arrows() -> None:
    wrong = []
    for parts, tree in _modules():
        room = parts[0]
        assert room in ARROWS, f"xmem/{room} is a new room: add it to docs/architecture.md"
        for target in _imports(parts, tree):
            other = target[0]
            if other not in (room, "errors") and other not in ARROWS[room]:
                wrong.append(f"{'.'.join(parts)} imports xmem.{'.'.join(target)}")
            if room == "inference" and other == "train" and target[1:2]:
                if target[1] not in TRAIN_FOR_INFERENCE:
                    wrong.append(f"{'.'.join(parts)} imports xmem.{'.'.join(target)}")
    assert not wrong, "\n".join(wrong)


def test_the_train_modules_inference_uses_import_nothing_above_it() -> None:
    allowed = {("model",), ("inference", "image"), ("errors",)}
    for parts, tree in _modules():
        if parts[:1] != ("train",) or parts[1:2] == () or parts[1] not in TRAIN_FOR_INFERENCE:
            continue
        for target in _imports(parts, tree):
            ok = target[:1] == ("model",) or target[:2] in allowed or target[:1] == ("errors",)
            ok |= target[:1] == ("train",) and target[1] in TRAIN_FOR_INFERENCE
            assert ok, f"{'.'.join(parts)} imports xmem.{'.'.join(target)}"
    train_init = {p: t for p, t in _modules()}[("train",)]
    assert not _imports(("train", "__init__"), train_init), "xmem/train/__init__.py must stay empty"


def test_commands_import_no_other_command() -> None:
    for parts, tree in _modules():
        if parts[:1] != ("cli",) or len(parts) < 2 or parts[1] == "main":
            continue
        for target in _imports(parts, tree):
            if target[:1] == ("cli",):
                assert target[1] in CLI_SHARED, f"cli.{parts[1]} imports cli.{target[1]}"


def test_no_function_is_over_60_lines() -> None:
    long = []
    for parts, tree in _modules():
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{'.'.join(parts)}.{node.name}: {lines} lines")
    assert not long, "\n".join(long)

"""The documentation stays inside the repository and names files that exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "supervisely/README.md"]
LINK = re.compile(r"\]\(([^)\s]+)\)")
# repository paths written in backticks, e.g. `xmem/memory/manager.py` or `docs/eval.md`
REPO_PATH = re.compile(r"`((?:xmem|docs|scripts|tests|examples|supervisely)/[\w./-]*\w)`")


def _links(text: str) -> list[str]:
    return [t.split("#")[0] for t in LINK.findall(text) if not re.match(r"[a-z]+:", t)]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_links_and_named_files_exist_inside_the_repository(doc: Path) -> None:
    text = doc.read_text()
    broken = []
    for target in filter(None, _links(text)):
        path = (doc.parent / target).resolve()
        if not path.is_relative_to(ROOT) or not path.exists():
            broken.append(target)
    broken += [name for name in REPO_PATH.findall(text) if not (ROOT / name).exists()]
    assert not broken, f"{doc.name} names what is not in the repository: {broken}"
    assert "shared/docs" not in text, f"{doc.name} points at documents outside the repository"

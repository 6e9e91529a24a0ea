"""Fixtures of the GUI's API tests (test_gui_api.py, test_gui_annotator.py): the clip, a tiny
tracker, a workspace and a TestClient on it. A plugin of tests/conftest.py; a module's own
fixture of the same name wins (test_cli_track.py has its own ``inputs``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tests.gui_harness import Inputs, make_inputs, make_tracker
from xmem.gui.jobs import Tracker
from xmem.gui.workspace import Workspace

if TYPE_CHECKING:
    from fastapi.testclient import TestClient


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Inputs:
    return make_inputs(tmp_path_factory.mktemp("gui_api"))


@pytest.fixture(scope="module")
def tracker(inputs: Inputs) -> Tracker:
    return make_tracker(inputs.weights)


@pytest.fixture
def workspace(tracker: Tracker) -> Iterator[Workspace]:
    ws = Workspace(tracker)
    yield ws
    ws.close()


@pytest.fixture
def client(workspace: Workspace) -> Iterator[TestClient]:
    from fastapi.testclient import TestClient  # only modules that checked for fastapi ask

    from xmem.gui.server import create_app

    with TestClient(create_app(workspace)) as c:
        yield c

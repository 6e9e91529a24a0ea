"""Weights table, cache, download and resolution, against a local HTTP server (no internet)."""

from __future__ import annotations

import http.server
import importlib.util
import io
import logging
import os
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch

from xmem.cli import main as cli_main
from xmem.errors import XMemError
from xmem.model import weights as w
from xmem.model.checkpoint import load_network
from xmem.model.network import ModelConfig, XMem

TINY = ModelConfig(
    key_dim=16, value_dim=32, hidden_dim=8, key_backbone="resnet18", decoder_dims=(32, 16, 16)
)
TIMEOUT = 30.0

Route = Callable[[http.server.BaseHTTPRequestHandler], None]


@pytest.fixture(scope="module")
def tiny_checkpoint() -> bytes:
    """A valid checkpoint of the tiny network, as the bytes of a torch.save'd state dict."""
    torch.manual_seed(0)
    buffer = io.BytesIO()
    torch.save(XMem(TINY).state_dict(), buffer)
    return buffer.getvalue()


@dataclass
class Server:
    """A local HTTP server: ``routes`` maps a URL path to a handler; ``requests`` logs paths."""

    url: str
    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)

    def serve_bytes(self, path: str, data: bytes) -> None:
        def route(handler: http.server.BaseHTTPRequestHandler) -> None:
            handler.send_response(200)
            handler.send_header("Content-Type", "application/octet-stream")
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)

        self.routes[path] = route

    def serve_truncated(self, path: str, data: bytes) -> None:
        def route(handler: http.server.BaseHTTPRequestHandler) -> None:
            handler.send_response(200)
            handler.send_header("Content-Type", "application/octet-stream")
            handler.send_header("Content-Length", str(len(data)))
            handler.send_header("Connection", "close")
            handler.end_headers()
            handler.wfile.write(data[: len(data) // 2])
            handler.wfile.flush()
            handler.close_connection = True

        self.routes[path] = route


@pytest.fixture
def server() -> Iterator[Server]:
    """A ThreadingHTTPServer on 127.0.0.1 in a daemon thread, always shut down afterwards."""
    state = Server(url="")

    class Handler(http.server.BaseHTTPRequestHandler):
        timeout = TIMEOUT

        def do_GET(self) -> None:  # noqa: N802 (http.server API)
            state.requests.append(self.path)
            route = state.routes.get(self.path)
            if route is None:
                self.send_error(404, "Not Found")
            else:
                route(self)

        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}/"
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(TIMEOUT)


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty weights cache in tmp_path; no proxies for the local server."""
    root = tmp_path / "cache"
    monkeypatch.setenv("XMEM_CACHE_DIR", str(root))
    monkeypatch.delenv("XMEM_WEIGHTS_MIRROR", raising=False)
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "*")
    monkeypatch.setenv("NO_PROXY", "*")
    monkeypatch.setattr(w, "BUNDLED_DIR", tmp_path / "no-bundle")  # as if none shipped
    return root


@pytest.fixture
def bundle(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_checkpoint: bytes
) -> Path:
    """A bundled-weights folder holding a (tiny) xmem-lite0.pth."""
    folder = tmp_path / "bundle"
    folder.mkdir()
    (folder / "xmem-lite0.pth").write_bytes(tiny_checkpoint)
    monkeypatch.setattr(w, "BUNDLED_DIR", folder)
    return folder


@pytest.fixture
def mirror(server: Server, cache: Path, monkeypatch: pytest.MonkeyPatch) -> Server:
    monkeypatch.setenv("XMEM_WEIGHTS_MIRROR", server.url)
    return server


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> Callable[[list[str]], int]:
    """``xmem.cli.main.main``, limited to the sub-commands whose modules exist already."""
    present = tuple(
        name for name in cli_main.COMMANDS if importlib.util.find_spec(f"xmem.cli.{name}")
    )
    monkeypatch.setattr(cli_main, "COMMANDS", present)
    return cli_main.main


def leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


# --- table, names, locations ---------------------------------------------------------------


def test_table_has_the_official_weights() -> None:
    assert w.DEFAULT_WEIGHTS == "XMem"
    assert list(w.WEIGHTS)[:5] == [
        "XMem",
        "XMem-s012",
        "XMem-s2",
        "XMem-no-sensory",
        "xmem-lite0",
    ]
    assert w.WEIGHTS["xmem-lite0"].bundled and w.BUNDLED_DEFAULT == "xmem-lite0"
    for name, info in w.WEIGHTS.items():
        if info.bundled:
            continue
        assert info.name == name
        assert info.filename == f"{name}.pth"
        assert info.url == w.RELEASE_URL + info.filename
        assert info.description
        assert info.sha256 is None and info.size is None
    with pytest.raises(AttributeError):
        w.WEIGHTS["XMem"].name = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    "name,expected",
    [("XMem", "XMem"), ("xmem", "XMem"), ("XMEM.PTH", "XMem"), ("xmem-s012.pth", "XMem-s012"),
     ("XMem-no-sensory", "XMem-no-sensory"), (" xmem-s2 ", "XMem-s2")],
)  # fmt: skip
def test_names_match_case_insensitively(name: str, expected: str) -> None:
    info = w.find_weights(name)
    assert info is not None and info.name == expected


def test_unknown_name() -> None:
    assert w.find_weights("nope") is None
    with pytest.raises(XMemError, match="known names: XMem, XMem-s012, XMem-s2, XMem-no-sensory"):
        w.weight_info("nope")


def test_official_url_when_no_mirror(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XMEM_WEIGHTS_MIRROR", raising=False)
    url = w.weights_url(w.WEIGHTS["XMem"])
    assert url.startswith("https://github.com/hkchengrex/XMem/releases/download/v1.0/")
    assert url == "https://github.com/hkchengrex/XMem/releases/download/v1.0/XMem.pth"
    assert w.weights_url("xmem-s2") == w.RELEASE_URL + "XMem-s2.pth"


@pytest.mark.parametrize("base", ["http://mirror.local/xmem", "http://mirror.local/xmem/"])
def test_mirror_replaces_the_base(monkeypatch: pytest.MonkeyPatch, base: str) -> None:
    monkeypatch.setenv("XMEM_WEIGHTS_MIRROR", base)
    assert w.weights_url(w.WEIGHTS["XMem-s012"]) == "http://mirror.local/xmem/XMem-s012.pth"


def test_cache_dir_order(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XMEM_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert w.cache_dir() == tmp_path / "home" / ".cache" / "xmem"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert w.cache_dir() == tmp_path / "xdg" / "xmem"
    monkeypatch.setenv("XMEM_CACHE_DIR", str(tmp_path / "mine"))
    assert w.cache_dir() == tmp_path / "mine"
    assert w.cached_path("xmem.pth") == tmp_path / "mine" / "XMem.pth"


# --- download ------------------------------------------------------------------------------


def test_download_then_cached(mirror: Server, cache: Path, tiny_checkpoint: bytes) -> None:
    mirror.serve_bytes("/XMem.pth", tiny_checkpoint)
    path = w.download("XMem", progress=False, timeout=TIMEOUT)
    assert path == cache / "XMem.pth"
    assert path.read_bytes() == tiny_checkpoint
    assert leftovers(cache) == ["XMem.pth"]
    assert mirror.requests == ["/XMem.pth"]
    assert load_network(path).config == TINY

    assert w.download("xmem", progress=False) == path  # cached: no second request
    assert w.resolve_weights("XMem") == path
    assert mirror.requests == ["/XMem.pth"]

    assert w.download("XMem", force=True, progress=False, timeout=TIMEOUT) == path
    assert mirror.requests == ["/XMem.pth", "/XMem.pth"]
    assert leftovers(cache) == ["XMem.pth"]


def test_list_weights_reports_cached(mirror: Server, cache: Path, tiny_checkpoint: bytes) -> None:
    assert all(path is None for _, path in w.list_weights())
    mirror.serve_bytes("/XMem-s2.pth", tiny_checkpoint)
    w.download("XMem-s2", progress=False, timeout=TIMEOUT)
    listed = {info.name: path for info, path in w.list_weights()}
    assert listed == {
        "XMem": None,
        "XMem-s012": None,
        "XMem-s2": cache / "XMem-s2.pth",
        "xmem-lite0": None,  # the cache fixture hides the bundle
        "xmem-compact": None,
        "XMem-no-sensory": None,
    }


def test_http_404(mirror: Server, cache: Path) -> None:
    with pytest.raises(XMemError) as err:
        w.download("XMem-s012", progress=False, timeout=TIMEOUT)
    message = str(err.value)
    assert "\n" not in message
    assert f"{mirror.url}XMem-s012.pth" in message
    assert str(cache / "XMem-s012.pth") in message
    assert "404" in message
    assert leftovers(cache) == []


def test_truncated_download(mirror: Server, cache: Path, tiny_checkpoint: bytes) -> None:
    mirror.serve_truncated("/XMem.pth", tiny_checkpoint)
    with pytest.raises(XMemError) as err:
        w.download("XMem", progress=False, timeout=TIMEOUT)
    message = str(err.value)
    assert "\n" not in message
    assert f"{mirror.url}XMem.pth" in message and str(cache / "XMem.pth") in message
    assert "truncated" in message or "before the download was complete" in message
    assert leftovers(cache) == []


def test_not_a_checkpoint(mirror: Server, cache: Path) -> None:
    mirror.serve_bytes("/XMem.pth", os.urandom(4096))
    with pytest.raises(XMemError, match="not a valid XMem checkpoint") as err:
        w.download("XMem", progress=False, timeout=TIMEOUT)
    message = str(err.value)
    assert "\n" not in message and ".part-" not in message
    assert str(cache / "XMem.pth") in message
    assert leftovers(cache) == []


def test_wrong_state_dict_is_rejected(mirror: Server, cache: Path) -> None:
    buffer = io.BytesIO()
    torch.save({"conv.weight": torch.zeros(2, 2)}, buffer)
    mirror.serve_bytes("/XMem.pth", buffer.getvalue())
    with pytest.raises(XMemError, match="not a valid XMem checkpoint"):
        w.download("XMem", progress=False, timeout=TIMEOUT)
    assert leftovers(cache) == []


def test_sha256_is_checked_when_known(
    mirror: Server, cache: Path, tiny_checkpoint: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    info = w.WeightInfo(
        "XMem", w.RELEASE_URL + "XMem.pth", "XMem.pth", "test", "xmem", sha256="0" * 64
    )
    monkeypatch.setitem(w.WEIGHTS, "XMem", info)
    mirror.serve_bytes("/XMem.pth", tiny_checkpoint)
    with pytest.raises(XMemError, match="sha256 mismatch"):
        w.download("XMem", progress=False, timeout=TIMEOUT)
    assert leftovers(cache) == []


def test_connection_refused(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:  # a port that was free a moment ago and is closed now
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("XMEM_WEIGHTS_MIRROR", f"http://127.0.0.1:{port}/")
    with pytest.raises(XMemError) as err:
        w.download("XMem", progress=False, timeout=TIMEOUT)
    message = str(err.value)
    assert "\n" not in message
    assert f"http://127.0.0.1:{port}/XMem.pth" in message
    assert str(cache / "XMem.pth") in message
    assert leftovers(cache) == []


def test_failed_forced_download_keeps_the_cached_file(mirror: Server, cache: Path) -> None:
    cache.mkdir()
    (cache / "XMem.pth").write_bytes(b"old")
    with pytest.raises(XMemError):
        w.download("XMem", force=True, progress=False, timeout=TIMEOUT)
    assert leftovers(cache) == ["XMem.pth"]
    assert (cache / "XMem.pth").read_bytes() == b"old"


# --- resolve_weights / from_pretrained -----------------------------------------------------


def test_resolve_existing_path(tmp_path: Path, cache: Path) -> None:
    ckpt = tmp_path / "mine.pth"
    ckpt.write_bytes(b"anything")  # resolving does not load
    assert w.resolve_weights(ckpt) == ckpt
    assert w.resolve_weights(str(ckpt)) == ckpt


def test_resolve_missing_path(tmp_path: Path, cache: Path) -> None:
    missing = tmp_path / "nowhere" / "model.pth"
    for arg in (missing, str(missing), "model.ckpt", "dir/model"):
        with pytest.raises(XMemError, match="does not exist") as err:
            w.resolve_weights(arg)
        assert str(err.value) == f"checkpoint file '{arg}' does not exist"


def test_resolve_unknown_name(cache: Path) -> None:
    with pytest.raises(XMemError) as err:
        w.resolve_weights("nope")
    message = str(err.value)
    assert "'nope'" in message
    for name in w.WEIGHTS:
        assert name in message


def test_resolve_without_download(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XMEM_WEIGHTS_MIRROR", "http://127.0.0.1:9/")
    with pytest.raises(XMemError) as err:
        w.resolve_weights(None, download_missing=False)
    message = str(err.value)
    assert "\n" not in message
    assert "http://127.0.0.1:9/XMem.pth" in message
    assert str(cache / "XMem.pth") in message
    assert leftovers(cache) == []


def test_resolve_downloads_the_default(mirror: Server, cache: Path, tiny_checkpoint: bytes) -> None:
    mirror.serve_bytes("/XMem.pth", tiny_checkpoint)
    assert w.resolve_weights(None) == cache / "XMem.pth"
    assert mirror.requests == ["/XMem.pth"]


def test_from_pretrained(mirror: Server, cache: Path, tiny_checkpoint: bytes) -> None:
    mirror.serve_bytes("/XMem-no-sensory.pth", tiny_checkpoint)
    net = w.from_pretrained("xmem-no-sensory")
    assert isinstance(net, XMem)
    assert not net.training
    assert net.config == TINY
    assert next(net.parameters()).device == torch.device("cpu")
    again = w.from_pretrained(cache / "XMem-no-sensory.pth", download_missing=False)
    assert not again.training
    assert mirror.requests == ["/XMem-no-sensory.pth"]


# --- CLI -----------------------------------------------------------------------------------


def test_cli_list(
    cli: Callable[[list[str]], int], cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(["weights", "list"]) == 0
    out = capsys.readouterr().out
    for name in w.WEIGHTS:
        assert name in out
    assert "* XMem " in out
    assert "no" in out and "default" in out


def test_cli_download_and_path(
    cli: Callable[[list[str]], int],
    mirror: Server,
    cache: Path,
    tiny_checkpoint: bytes,
    capsys: pytest.CaptureFixture[str],
) -> None:
    mirror.serve_bytes("/XMem.pth", tiny_checkpoint)
    assert cli(["weights", "download", "XMem", "--no-progress"]) == 0
    assert capsys.readouterr().out.strip() == str(cache / "XMem.pth")
    assert (cache / "XMem.pth").is_file()

    assert cli(["weights", "download", "xmem"]) == 0  # cached
    assert capsys.readouterr().out.strip() == str(cache / "XMem.pth")
    assert mirror.requests == ["/XMem.pth"]

    assert cli(["weights", "list"]) == 0
    out = capsys.readouterr().out
    assert str(cache / "XMem.pth") in out and "yes" in out

    assert cli(["weights", "path", "XMem-s2"]) == 0
    assert capsys.readouterr().out.strip() == str(cache / "XMem-s2.pth")


def test_cli_unknown_name(
    cli: Callable[[list[str]], int],
    cache: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR, logger="xmem"):
        assert cli(["weights", "download", "nope"]) == 2
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    message = errors[0].getMessage()
    assert "\n" not in message and "nope" in message and "XMem-s012" in message
    assert errors[0].exc_info is None
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    assert captured.out == ""


def test_cli_download_failure(
    cli: Callable[[list[str]], int],
    mirror: Server,
    cache: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR, logger="xmem"):
        assert cli(["weights", "download", "XMem", "--no-progress"]) == 2
    message = caplog.records[-1].getMessage()
    assert f"{mirror.url}XMem.pth" in message and str(cache / "XMem.pth") in message
    assert leftovers(cache) == []


# -- the bundled compact model -----------------------------------------------------------------


def test_default_is_the_bundled_model_when_xmem_is_not_cached(
    bundle: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    assert w.resolve_weights(None) == bundle / "xmem-lite0.pth"  # no download attempted
    assert "bundled xmem-lite0" in caplog.text and "xmem weights download XMem" in caplog.text


def test_default_prefers_the_cached_official_weights(
    bundle: Path, cache: Path, tiny_checkpoint: bytes
) -> None:
    cache.mkdir(parents=True)
    (cache / "XMem.pth").write_bytes(tiny_checkpoint)
    assert w.resolve_weights(None) == cache / "XMem.pth"


def test_bundled_weights_by_name_are_never_downloaded(bundle: Path) -> None:
    path = bundle / "xmem-lite0.pth"
    assert w.resolve_weights("xmem-lite0") == path and w.download("xmem-lite0") == path
    assert w.cached_path("xmem-lite0") == path
    listed = {info.name: p for info, p in w.list_weights()}
    assert listed["xmem-lite0"] == path and listed["XMem"] is None


def test_missing_bundle_is_a_clear_error(cache: Path) -> None:
    with pytest.raises(XMemError, match="reinstall"):
        w.resolve_weights("xmem-lite0")


# -- each model's processing size ----------------------------------------------------------------


def test_table_weights_carry_their_processing_size(bundle: Path, cache: Path) -> None:
    assert w.WEIGHTS["XMem"].process_size == 480
    bundled = w.WEIGHTS["xmem-lite0"]
    assert w.from_pretrained("xmem-lite0").default_size == bundled.process_size == 240
    assert w.from_pretrained(bundle / "xmem-lite0.pth").default_size == 240  # same file
    assert w.weights_process_size("xmem-lite0") == 240
    other = cache.parent / "mine.pth"
    other.write_bytes((bundle / "xmem-lite0.pth").read_bytes())
    assert w.from_pretrained(other).default_size == 480  # outside the table: the paper's
    assert w.weights_process_size(other) == 480


def test_table_weights_carry_their_test_time_flip(bundle: Path, cache: Path) -> None:
    assert w.from_pretrained("xmem-lite0").default_flip is w.WEIGHTS["xmem-lite0"].flip is True
    assert w.WEIGHTS["XMem"].flip is False and w.WEIGHTS["xmem-compact"].flip is False
    other = cache.parent / "mine.pth"
    other.write_bytes((bundle / "xmem-lite0.pth").read_bytes())
    assert w.from_pretrained(other).default_flip is False  # outside the table: none


def test_track_uses_the_network_size_unless_given(bundle: Path) -> None:
    import numpy as np

    from xmem import TrackOptions, track

    net = w.from_pretrained("xmem-lite0")
    frames = [np.random.default_rng(i).integers(0, 255, (96, 128, 3), np.uint8) for i in range(3)]
    first = np.zeros((96, 128), np.uint8)
    first[30:60, 40:90] = 1

    def probs(**kwargs: object) -> list[np.ndarray]:
        # max_size 1: no larger size for the small object (tests/test_sizing.py)
        options = TrackOptions(max_size=1, **kwargs)  # type: ignore[arg-type]
        results = track(net, frames, {0: first}, options, return_prob=True)
        return [r.prob.numpy() for r in results if r.prob is not None]

    net.default_size = 32
    by_default = probs()
    assert all(np.array_equal(a, b) for a, b in zip(by_default, probs(size=32), strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(by_default, probs(size=64), strict=True))
    with pytest.raises(ValueError, match="size must be positive"):
        probs(size=0)


def test_cli_list_shows_each_processing_size(
    cli: Callable[[list[str]], int], cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(["weights", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["NAME", "CACHED", "SIZE"]
    assert any(line.split()[:3] == ["xmem-lite0", "no", "240"] for line in lines)
    assert any(line.split()[:4] == ["*", "XMem", "no", "480"] for line in lines)

"""Loopback emulator of the Supervisely platform's public API (tests and benchmarks only).

A tracking app built on the Supervisely SDK talks back to the platform through
``POST {SERVER_ADDRESS}/public/api/v3/<method>`` calls (see
``docs/supervisely-protocol.md``, sections 2 and 6). :class:`SuperviselyEmulator` answers the
subset of those calls that the tracking paths use, so an app can be driven end to end through the
real SDK client code without a platform:

* ``videos.info``, ``figures.info``: the videos and figures registered with :meth:`add_video` and
  :meth:`add_figure`;
* ``videos.bulk.download-frame`` (multipart) and ``videos.download-frame``: frames generated on
  each request by the video's ``frame_fn`` (default :func:`default_frame`) and encoded as PNG or
  JPEG, so nothing is cached and the emulator stays small even with 1080p videos;
* ``videos.download``: always 404, so the SDK's whole-video cache path is skipped;
* ``figures.bulk.add``, ``videos.notify-annotation-tool``, ``annotation-tool.run-action``: recorded
  (see :meth:`created_figures`, :meth:`notifications`, :meth:`actions`); a notification can signal
  "stopped" through :attr:`SuperviselyEmulator.stop_after`;
* ``instance.version``.

Every call is logged (:meth:`calls`) before :attr:`~SuperviselyEmulator.delay` and
:attr:`~SuperviselyEmulator.fail` are applied. Errors are 4xx JSON bodies ``{"error", "details"}``
(the SDK retries 5xx and a few other codes). The module deliberately does not import
``supervisely``: the SDK is an optional extra.
"""

from __future__ import annotations

import base64
import copy
import io
import json
import logging
import math
import os
import socket
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

__all__ = ["Call", "SuperviselyEmulator", "default_frame"]

logger = logging.getLogger(__name__)

FrameFn = Callable[[int, int], npt.NDArray[np.uint8]]

_API_PREFIX = "/public/api/v3/"
_NOTIFY_METHOD = "videos.notify-annotation-tool"
_ACTION_METHOD = "annotation-tool.run-action"
_FETCH_TYPE = "videos:fetch-figures-in-range"
_FIRST_CREATED_ID = 5000
_TIMESTAMP = "2024-01-01T00:00:00.000Z"
_CONTENT_TYPES = {"png": "image/png", "jpeg": "image/jpeg"}


@dataclass(frozen=True)
class Call:
    """One API call received by the emulator."""

    method: str  # e.g. "videos.info"
    body: Any  # parsed JSON request body (dict), or None
    api_key: str | None  # the x-api-key header
    time: float  # time.monotonic() when received


def default_frame(video_id: int, index: int, width: int, height: int) -> npt.NDArray[np.uint8]:
    """A deterministic RGB ``uint8`` frame of shape ``(height, width, 3)``.

    The background is smooth (a per-channel horizontal wave plus a vertical one, with phases that
    depend on ``video_id``, values in [0, 200]); on top of it a white (255) square of side
    ``min(width, height) // 4`` has its top edge at row ``height // 3`` and its left edge at column
    ``index % width``, wrapping around the right border (it moves 1 px per frame to the right).
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"frame size must be positive, got {width}x{height}")
    seed = (int(video_id) * 2654435761) & 0xFFFFFFFF
    phases = [((seed >> (8 * c)) & 0xFF) / 255.0 * 2.0 * math.pi for c in range(4)]
    x = np.arange(width, dtype=np.float32) * np.float32(2.0 * math.pi / width)
    y = np.arange(height, dtype=np.float32) * np.float32(2.0 * math.pi / height)
    cols = np.empty((width, 3), dtype=np.float32)
    for c in range(3):
        cols[:, c] = 60.0 + 60.0 * np.cos(x * (c + 1) + phases[c])
    rows = 40.0 + 40.0 * np.sin(y * 2.0 + phases[3])
    # Two uint8 terms whose sum stays <= 200: one broadcast add over a 2-D (H, W*3) view.
    cols_u8 = np.rint(cols).astype(np.uint8).reshape(1, width * 3)
    rows_u8 = np.rint(rows).astype(np.uint8).reshape(height, 1)
    out = np.empty((height, width, 3), dtype=np.uint8)
    np.add(rows_u8, cols_u8, out=out.reshape(height, width * 3))
    side = max(1, min(width, height) // 4)
    top = height // 3
    left = int(index) % width
    right = left + side
    out[top : top + side, left : min(right, width)] = 255
    if right > width:
        out[top : top + side, : right - width] = 255
    return out


class _HttpError(Exception):
    """An error answered to the client as ``status`` with a JSON body."""

    def __init__(self, status: int, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details


@dataclass(frozen=True)
class _Response:
    status: int
    content_type: str
    body: bytes


@dataclass(frozen=True)
class _Video:
    info: dict[str, Any]
    frames_count: int
    width: int
    height: int
    frame_fn: FrameFn


def _json_response(status: int, obj: Any) -> _Response:
    return _Response(status, "application/json", json.dumps(obj).encode("utf-8"))


def _error_response(err: _HttpError) -> _Response:
    return _json_response(err.status, {"error": err.message, "details": err.details})


def _require_dict(body: Any, method: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise _HttpError(400, f"{method}: the request body must be a JSON object")
    return body


def _require_int(body: dict[str, Any], key: str, method: str) -> int:
    value = body.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _HttpError(400, f"{method}: field {key!r} must be an integer", {key: value})
    return value


def _polygon_area(points: Any) -> float:
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if len(pts) < 3:
        return 0.0
    x, y = pts[:, 0], pts[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2.0)


def _bitmap_area(data: str) -> int:
    img = Image.open(io.BytesIO(zlib.decompress(base64.b64decode(data))))
    if "A" in img.getbands():
        arr = np.asarray(img.getchannel("A"))
    elif img.mode == "P":
        arr = np.asarray(img)  # palette indices: 0 = background
    else:
        arr = np.asarray(img.convert("L"))
    return int(np.count_nonzero(arr))


def _geometry_area(geometry_type: str, geometry: dict[str, Any]) -> str | None:
    """Best-effort area in pixels, as the string the platform returns; None when unreadable."""
    try:
        if geometry_type == "bitmap":
            return str(_bitmap_area(geometry["bitmap"]["data"]))
        if geometry_type == "polygon":
            pts = geometry["points"]
            area = _polygon_area(pts["exterior"])
            area -= sum(_polygon_area(hole) for hole in pts.get("interior", []))
            return str(int(round(max(area, 0.0))))
        if geometry_type == "rectangle":
            (left, top), (right, bottom) = geometry["points"]["exterior"]
            return str(int((abs(right - left) + 1) * (abs(bottom - top) + 1)))
        return "0"
    except Exception:  # malformed geometry is allowed (tests may seed it on purpose)
        logger.debug("cannot compute the area of a %s geometry", geometry_type, exc_info=True)
        return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], emulator: SuperviselyEmulator) -> None:
        self.emulator = emulator
        self._conn_lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        super().__init__(address, _Handler)

    def track(self, conn: socket.socket) -> None:
        with self._conn_lock:
            self._connections.add(conn)

    def untrack(self, conn: socket.socket) -> None:
        with self._conn_lock:
            self._connections.discard(conn)

    def close_connections(self) -> None:
        """Shut down every open (possibly idle keep-alive) connection, waking its thread."""
        with self._conn_lock:
            conns = list(self._connections)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Broken pipes and resets are expected when a client or stop() closes a connection.
        logger.debug("error while serving %s", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.untrack(self.connection)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (base-class name)
        logger.debug("%s - %s", self.address_string(), format % args)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, response: _Response, head_only: bool = False) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if not head_only:
            self.wfile.write(response.body)

    def _not_found(self, head_only: bool = False) -> None:
        self._read_body()
        err = _HttpError(404, f"no route {self.command} {self.path}")
        self._send(_error_response(err), head_only=head_only)

    def do_GET(self) -> None:  # noqa: N802
        self._not_found()

    def do_HEAD(self) -> None:  # noqa: N802
        self._not_found(head_only=True)

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_GET

    def do_POST(self) -> None:  # noqa: N802
        path = self.path.split("?", 1)[0]
        method = path[len(_API_PREFIX) :] if path.startswith(_API_PREFIX) else ""
        if not method or "/" in method:
            self._not_found()
            return
        raw = self._read_body()
        self._send(self.server.emulator._serve(method, raw, self.headers.get("x-api-key")))


class SuperviselyEmulator:
    """A loopback HTTP server answering the Supervisely API calls of a tracking app.

    Use as a context manager (or :meth:`start` / :meth:`stop`) and point the SDK at
    :attr:`address`. Register data with :meth:`add_video` and :meth:`add_figure`; steer the answers
    with the :attr:`stop_after`, :attr:`delay` and :attr:`fail` attributes; inspect the traffic
    with :meth:`calls`, :meth:`notifications`, :meth:`actions` and :meth:`created_figures`.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, frame_format: str = "png") -> None:
        fmt = frame_format.lower()
        fmt = "jpeg" if fmt == "jpg" else fmt
        if fmt not in _CONTENT_TYPES:
            raise ValueError(f"frame_format must be 'png' or 'jpeg', got {frame_format!r}")
        self.host = host
        self.port = port
        self.frame_format = fmt
        #: When n, the n-th and later "videos:fetch-figures-in-range" notifications (1-based,
        #: counted since the last reset) answer {"stopped": true}.
        self.stop_after: int | None = None
        #: method -> seconds to sleep before answering (after the call is logged).
        self.delay: dict[str, float] = {}
        #: method -> HTTP status to answer with (after the call is logged).
        self.fail: dict[str, int] = {}
        self._lock = threading.Lock()
        self._videos: dict[int, _Video] = {}
        self._figures: dict[int, dict[str, Any]] = {}
        self._calls: list[Call] = []
        self._created: list[dict[str, Any]] = []
        self._next_figure_id = _FIRST_CREATED_ID
        self._fetch_notifications = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._stopping = threading.Event()
        self._handlers: dict[str, Callable[[Any], _Response]] = {
            "videos.info": self._videos_info,
            "figures.info": self._figures_info,
            "videos.bulk.download-frame": self._bulk_download_frame,
            "videos.download-frame": self._download_frame,
            "videos.download": self._video_download,
            "figures.bulk.add": self._figures_bulk_add,
            _NOTIFY_METHOD: self._notify,
            _ACTION_METHOD: self._run_action,
            "instance.version": self._instance_version,
        }

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> SuperviselyEmulator:
        """Bind the socket and start serving in a daemon thread; returns ``self``."""
        if self._server is not None:
            raise RuntimeError("the emulator is already running")
        self._stopping = threading.Event()
        server = _Server((self.host, self.port), self)
        self._executor = ThreadPoolExecutor(
            max_workers=max(1, min(8, os.cpu_count() or 1)), thread_name_prefix="sly-emu-encode"
        )
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"sly-emulator:{server.server_address[1]}",
            daemon=True,
        )
        self._server = server
        self._thread.start()
        logger.debug("Supervisely emulator listening on %s", self.address)
        return self

    def stop(self) -> None:
        """Stop serving, close open connections and join the server thread (idempotent)."""
        server, thread, executor = self._server, self._thread, self._executor
        if server is None:
            return
        self._server = self._thread = self._executor = None
        self._stopping.set()  # wakes requests sleeping in a delay
        server.shutdown()
        server.close_connections()
        server.server_close()
        if thread is not None:
            thread.join()
        if executor is not None:
            executor.shutdown(wait=True)
        logger.debug("Supervisely emulator stopped")

    def __enter__(self) -> SuperviselyEmulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def address(self) -> str:
        """The server address to give the SDK, e.g. ``"http://127.0.0.1:40123"``."""
        server = self._server
        if server is None:
            raise RuntimeError("the emulator is not running: call start() first")
        return f"http://{self.host}:{server.server_address[1]}"

    # ------------------------------------------------------------------ seeding

    def add_video(
        self,
        video_id: int,
        frames_count: int,
        width: int,
        height: int,
        name: str = "clip.mp4",
        frame_fn: FrameFn | None = None,
    ) -> dict[str, Any]:
        """Register (or replace) a video; returns its ``videos.info`` JSON.

        ``frame_fn(video_id, frame_index)`` must return an RGB ``uint8`` array of shape
        ``(height, width, 3)``; it is called on every frame request (from worker threads). The
        default is :func:`default_frame`.
        """
        if frames_count <= 0 or width <= 0 or height <= 0:
            raise ValueError("frames_count, width and height must be positive")
        if frame_fn is None:

            def frame_fn(vid: int, index: int) -> npt.NDArray[np.uint8]:
                return default_frame(vid, index, width, height)

        info: dict[str, Any] = {
            "id": video_id,
            "name": name,
            "fileMeta": {
                "framesCount": frames_count,
                "width": width,
                "height": height,
                "size": "1000",
            },
            "datasetId": 1,
            "projectId": 1,
            "teamId": 1,
            "workspaceId": 1,
            "framesCount": frames_count,
        }
        video = _Video(info, frames_count, width, height, frame_fn)
        with self._lock:
            self._videos[video_id] = video
        return copy.deepcopy(info)

    def add_figure(
        self,
        figure_id: int,
        video_id: int,
        object_id: int,
        frame: int,
        geometry_type: str,
        geometry: dict[str, Any],
        class_id: int = 7,
    ) -> dict[str, Any]:
        """Register (or replace) a figure on a registered video; returns its full JSON.

        The JSON is what ``figures.info`` answers and what ``/track_async`` takes in
        ``context.figures``.
        """
        with self._lock:
            video = self._videos.get(video_id)
        if video is None:
            raise ValueError(f"video {video_id} is not registered: call add_video() first")
        if not 0 <= frame < video.frames_count:
            raise ValueError(f"frame {frame} is outside [0, {video.frames_count})")
        fig: dict[str, Any] = {
            "id": figure_id,
            "objectId": object_id,
            "classId": class_id,
            "entityId": video_id,
            "projectId": video.info["projectId"],
            "datasetId": video.info["datasetId"],
            "geometryType": geometry_type,
            "geometry": copy.deepcopy(geometry),
            "geometryMeta": {},
            "meta": {"frame": frame},
            "tags": [],
            "area": _geometry_area(geometry_type, geometry),
            "priority": None,
            "nnCreated": False,
            "nnUpdated": False,
            "createdAt": _TIMESTAMP,
            "updatedAt": _TIMESTAMP,
        }
        with self._lock:
            self._figures[figure_id] = fig
        return copy.deepcopy(fig)

    # ------------------------------------------------------------------ inspection

    def calls(self, method: str | None = None) -> list[Call]:
        """A copy of the call log, in arrival order, optionally only calls of ``method``."""
        with self._lock:
            log = list(self._calls)
        return log if method is None else [c for c in log if c.method == method]

    def notifications(self, type_: str | None = None) -> list[dict[str, Any]]:
        """Bodies of ``videos.notify-annotation-tool`` calls, optionally only of ``type_``."""
        bodies = [c.body for c in self.calls(_NOTIFY_METHOD) if isinstance(c.body, dict)]
        return bodies if type_ is None else [b for b in bodies if b.get("type") == type_]

    def actions(self) -> list[dict[str, Any]]:
        """Bodies of ``annotation-tool.run-action`` calls."""
        return [c.body for c in self.calls(_ACTION_METHOD) if isinstance(c.body, dict)]

    def created_figures(self) -> list[dict[str, Any]]:
        """Every figure received by ``figures.bulk.add``, in order, with ``id`` and ``entityId``."""
        with self._lock:
            return [dict(f) for f in self._created]

    def reset(self) -> None:
        """Clear the call log, created figures, ``stop_after``, ``delay`` and ``fail``.

        Registered videos and figures are kept; ids given to created figures keep counting up.
        """
        with self._lock:
            self._calls.clear()
            self._created.clear()
            self._fetch_notifications = 0
            self.stop_after = None
            self.delay.clear()
            self.fail.clear()

    # ------------------------------------------------------------------ request handling

    def _serve(self, method: str, raw: bytes, api_key: str | None) -> _Response:
        received = time.monotonic()
        body: Any = None
        bad_json: Exception | None = None
        if raw.strip():
            try:
                body = json.loads(raw)
            except ValueError as exc:
                bad_json = exc
        with self._lock:
            self._calls.append(Call(method, body, api_key, received))
        stopping = self._stopping
        delay = self.delay.get(method)
        if delay:
            stopping.wait(delay)
        status = self.fail.get(method)
        if status is not None:
            return _error_response(_HttpError(status, f"{method}: failure injected by the test"))
        try:
            if bad_json is not None:
                raise _HttpError(400, f"{method}: invalid JSON body", str(bad_json))
            handler = self._handlers.get(method)
            if handler is None:
                raise _HttpError(404, f"unknown method {method!r}")
            return handler(body)
        except _HttpError as err:
            return _error_response(err)
        except Exception as exc:  # a broken frame_fn etc.: 4xx, so the SDK does not retry
            logger.exception("emulator failure in %s", method)
            return _error_response(_HttpError(400, f"{method}: emulator internal error", repr(exc)))

    def _video(self, video_id: int) -> _Video:
        with self._lock:
            video = self._videos.get(video_id)
        if video is None:
            raise _HttpError(404, f"video {video_id} not found", {"id": video_id})
        return video

    def _encode_frame(self, video: _Video, video_id: int, index: int) -> bytes:
        frame = np.asarray(video.frame_fn(video_id, index))
        expected = (video.height, video.width, 3)
        if frame.shape != expected or frame.dtype != np.uint8:
            raise _HttpError(
                400,
                f"frame_fn returned {frame.dtype} {frame.shape}, expected uint8 {expected}",
                {"videoId": video_id, "frame": index},
            )
        buf = io.BytesIO()
        if self.frame_format == "png":
            Image.fromarray(frame).save(buf, format="PNG", compress_level=1)
        else:
            Image.fromarray(frame).save(buf, format="JPEG", quality=95)
        return buf.getvalue()

    def _check_frames(self, video: _Video, frames: list[Any], method: str) -> None:
        bad = [
            f
            for f in frames
            if isinstance(f, bool) or not isinstance(f, int) or not 0 <= f < video.frames_count
        ]
        if bad:
            raise _HttpError(
                400,
                f"{method}: frame index out of range [0, {video.frames_count})",
                {"frames": bad},
            )

    def _videos_info(self, body: Any) -> _Response:
        req = _require_dict(body, "videos.info")
        video = self._video(_require_int(req, "id", "videos.info"))
        return _json_response(200, video.info)

    def _figures_info(self, body: Any) -> _Response:
        req = _require_dict(body, "figures.info")
        figure_id = _require_int(req, "id", "figures.info")
        with self._lock:
            fig = self._figures.get(figure_id)
        if fig is None:
            raise _HttpError(404, f"figure {figure_id} not found", {"id": figure_id})
        return _json_response(200, fig)

    def _bulk_download_frame(self, body: Any) -> _Response:
        method = "videos.bulk.download-frame"
        req = _require_dict(body, method)
        video_id = _require_int(req, "videoId", method)
        video = self._video(video_id)
        frames = req.get("frames")
        if not isinstance(frames, list):
            raise _HttpError(400, f"{method}: field 'frames' must be a list")
        self._check_frames(video, frames, method)
        executor = self._executor
        if executor is not None and len(frames) > 1:
            encoded = list(executor.map(lambda i: self._encode_frame(video, video_id, i), frames))
        else:
            encoded = [self._encode_frame(video, video_id, i) for i in frames]
        boundary = f"xmem-emulator-{uuid.uuid4().hex}"
        content_type = _CONTENT_TYPES[self.frame_format]
        return _Response(
            200,
            f"multipart/form-data; boundary={boundary}",
            b"".join(_multipart_parts(boundary, content_type, frames, encoded)),
        )

    def _download_frame(self, body: Any) -> _Response:
        method = "videos.download-frame"
        req = _require_dict(body, method)
        video_id = _require_int(req, "videoId", method)
        video = self._video(video_id)
        index = _require_int(req, "frame", method)
        self._check_frames(video, [index], method)
        data = self._encode_frame(video, video_id, index)
        return _Response(200, _CONTENT_TYPES[self.frame_format], data)

    def _video_download(self, body: Any) -> _Response:
        video_id = body.get("id") if isinstance(body, dict) else None
        raise _HttpError(404, "video file download is not emulated", {"id": video_id})

    def _figures_bulk_add(self, body: Any) -> _Response:
        method = "figures.bulk.add"
        req = _require_dict(body, method)
        figures = req.get("figures")
        if not isinstance(figures, list) or not all(isinstance(f, dict) for f in figures):
            raise _HttpError(400, f"{method}: field 'figures' must be a list of objects")
        ids = []
        with self._lock:
            for fig in figures:
                created = dict(fig)
                created["id"] = self._next_figure_id
                if "entityId" in req:
                    created["entityId"] = req["entityId"]
                self._next_figure_id += 1
                self._created.append(created)
                ids.append({"id": created["id"]})
        return _json_response(200, ids)

    def _notify(self, body: Any) -> _Response:
        req = _require_dict(body, _NOTIFY_METHOD)
        stopped = False
        if req.get("type") == _FETCH_TYPE:
            with self._lock:
                self._fetch_notifications += 1
                count = self._fetch_notifications
            stop_after = self.stop_after
            stopped = stop_after is not None and count >= stop_after
        return _json_response(200, {"stopped": stopped})

    def _run_action(self, body: Any) -> _Response:
        return _json_response(200, {})

    def _instance_version(self, body: Any) -> _Response:
        return _json_response(200, {"version": "6.99.0"})


def _multipart_parts(
    boundary: str, content_type: str, frames: list[int], encoded: list[bytes]
) -> Iterator[bytes]:
    for index, data in zip(frames, encoded, strict=True):
        yield (
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="{index}"\r\n'
            f"Content-Type: {content_type}\r\n"
            f"Content-Length: {len(data)}\r\n\r\n"
        ).encode("ascii")
        yield data
        yield b"\r\n"
    yield f"--{boundary}--\r\n".encode("ascii")

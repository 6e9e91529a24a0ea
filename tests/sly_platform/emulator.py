"""Loopback emulator of the Supervisely platform's public API (tests and benchmarks only).

A tracking app built on the Supervisely SDK talks back to the platform through
``POST {SERVER_ADDRESS}/public/api/v3/<method>`` calls (``docs/supervisely.md``, and the
protocol notes). :class:`SuperviselyEmulator` answers those calls as strictly as the platform:

* ``videos.info``, ``figures.info``, ``figures.list`` (paged, with ``nnCreated``/``nnUpdated``):
  the videos and figures registered with :meth:`~SuperviselyEmulator.add_video` and
  :meth:`~SuperviselyEmulator.add_figure`, and the figures created since;
* ``videos.bulk.download-frame`` (multipart) and ``videos.download-frame``: frames made on
  each request by the video's ``frame_fn`` (a synthetic square, or real DAVIS frames);
* ``videos.download``: always 404, so the SDK's whole-video cache path is skipped;
* ``figures.bulk.add``: checked (a known video, an object of that video, a frame inside it, a
  geometry) and recorded with the labelling flags; ``videos.notify-annotation-tool`` (its reply
  can say Stop, see ``stop_after``) and ``annotation-tool.run-action``: recorded;
* ``tasks.info`` and ``tasks.data.get`` for the sessions of :meth:`~SuperviselyEmulator.add_task`
  (production start), ``instance.version``.

Faults are injected per method, from the n-th call, for n calls, per video
(:meth:`~SuperviselyEmulator.inject`). Errors of the emulator itself are 500s, as a server
fault; bad requests are 4xx. The module does not import ``supervisely``.
"""

from __future__ import annotations

import copy
import io
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Any

import numpy as np
from PIL import Image

from .figures import check_new_figure
from .http import HttpError, Response, Server, error_response, json_response
from .state import ACTION_METHOD, NOTIFY_METHOD, Call, PlatformState, Video

__all__ = ["Call", "SuperviselyEmulator"]

logger = logging.getLogger(__name__)

_FETCH_TYPE = "videos:fetch-figures-in-range"
_CONTENT_TYPES = {"png": "image/png", "jpeg": "image/jpeg"}


def _require_dict(body: Any, method: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise HttpError(400, f"{method}: the request body must be a JSON object")
    return body


def _require_int(body: dict[str, Any], key: str, method: str) -> int:
    value = body.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise HttpError(400, f"{method}: field {key!r} must be an integer", {key: value})
    return value


class SuperviselyEmulator(PlatformState):
    """A loopback HTTP server answering the Supervisely API calls of a tracking app.

    Use as a context manager (or :meth:`start` / :meth:`stop`) and point the SDK at
    :attr:`address`. Register data with :meth:`add_video`, :meth:`add_figure` and
    :meth:`add_task`; steer the answers with :meth:`inject` (or the :attr:`stop_after`,
    :attr:`delay` and :attr:`fail` shortcuts); inspect the traffic with :meth:`calls`,
    :meth:`notifications`, :meth:`actions` and :meth:`created_figures`.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, frame_format: str = "png") -> None:
        super().__init__()
        fmt = frame_format.lower()
        fmt = "jpeg" if fmt == "jpg" else fmt
        if fmt not in _CONTENT_TYPES:
            raise ValueError(f"frame_format must be 'png' or 'jpeg', got {frame_format!r}")
        self.host = host
        self.port = port
        self.frame_format = fmt
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._stopping = threading.Event()
        self._handlers: dict[str, Callable[[Any], Response]] = {
            "videos.info": self._videos_info,
            "figures.info": self._figures_info,
            "videos.bulk.download-frame": self._bulk_download_frame,
            "videos.download-frame": self._download_frame,
            "videos.download": self._video_download,
            "figures.bulk.add": self._figures_bulk_add,
            NOTIFY_METHOD: self._notify,
            ACTION_METHOD: self._run_action,
            "instance.version": self._instance_version,
            "figures.list": self._figures_list,
            "tasks.info": self._tasks_info,
            "tasks.data.get": self._tasks_data_get,
        }

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> SuperviselyEmulator:
        """Bind the socket and start serving in a daemon thread; returns ``self``."""
        if self._server is not None:
            raise RuntimeError("the emulator is already running")
        self._stopping = threading.Event()
        server = Server((self.host, self.port), self)
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

    # ------------------------------------------------------------------ request handling

    def serve(self, method: str, raw: bytes, api_key: str | None) -> Response:
        """Answer one API call: log it, apply the faults, then the method's handler. Errors of
        the emulator itself are 500s, as a platform fault (the SDK retries those)."""
        received = time.monotonic()
        body: Any = None
        bad_json: Exception | None = None
        if raw.strip():
            try:
                body = json.loads(raw)
            except ValueError as exc:
                bad_json = exc
        call = Call(method, body, api_key, received)
        with self._lock:
            self._calls.append(call)
            faults = [f for f in self._faults if f.hit(method, body)]
        stopping = self._stopping
        delay = max([self.delay.get(method, 0.0)] + [f.delay for f in faults])
        if delay:
            stopping.wait(delay)
        status = self.fail.get(method)
        status = next((f.status for f in faults if f.status is not None), status)
        if status is not None:
            response = error_response(HttpError(status, f"{method}: failure injected by the test"))
        else:
            response = self._handle(method, body, bad_json)
        call.status = response.status
        call.answered = time.monotonic()
        if method == NOTIFY_METHOD and b'"stopped": true' in response.body:
            with self._lock:
                if self._stop_answered is None:
                    self._stop_answered = call.answered
        return response

    def _handle(self, method: str, body: Any, bad_json: Exception | None) -> Response:
        try:
            if bad_json is not None:
                raise HttpError(400, f"{method}: invalid JSON body", str(bad_json))
            handler = self._handlers.get(method)
            if handler is None:
                raise HttpError(404, f"unknown method {method!r}")
            return handler(body)
        except HttpError as err:
            return error_response(err)
        except Exception as exc:  # a broken frame_fn etc.: a server fault
            logger.exception("emulator failure in %s", method)
            return error_response(HttpError(500, f"{method}: internal server error", repr(exc)))

    def _encode_frame(self, video: Video, video_id: int, index: int) -> bytes:
        frame = np.asarray(video.frame_fn(video_id, index))
        expected = (video.height, video.width, 3)
        if frame.shape != expected or frame.dtype != np.uint8:
            raise HttpError(
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

    def _check_frames(self, video: Video, frames: list[Any], method: str) -> None:
        bad = [
            f
            for f in frames
            if isinstance(f, bool) or not isinstance(f, int) or not 0 <= f < video.frames_count
        ]
        if bad:
            raise HttpError(
                400,
                f"{method}: frame index out of range [0, {video.frames_count})",
                {"frames": bad},
            )

    def _videos_info(self, body: Any) -> Response:
        req = _require_dict(body, "videos.info")
        video = self._video(_require_int(req, "id", "videos.info"))
        return json_response(200, video.info)

    def _figures_info(self, body: Any) -> Response:
        req = _require_dict(body, "figures.info")
        figure_id = _require_int(req, "id", "figures.info")
        with self._lock:
            fig = self._figures.get(figure_id)
        if fig is None:
            raise HttpError(404, f"figure {figure_id} not found", {"id": figure_id})
        return json_response(200, fig)

    def _bulk_download_frame(self, body: Any) -> Response:
        method = "videos.bulk.download-frame"
        req = _require_dict(body, method)
        video_id = _require_int(req, "videoId", method)
        video = self._video(video_id)
        frames = req.get("frames")
        if not isinstance(frames, list):
            raise HttpError(400, f"{method}: field 'frames' must be a list")
        self._check_frames(video, frames, method)
        executor = self._executor
        if executor is not None and len(frames) > 1:
            encoded = list(executor.map(lambda i: self._encode_frame(video, video_id, i), frames))
        else:
            encoded = [self._encode_frame(video, video_id, i) for i in frames]
        boundary = f"xmem-emulator-{uuid.uuid4().hex}"
        content_type = _CONTENT_TYPES[self.frame_format]
        return Response(
            200,
            f"multipart/form-data; boundary={boundary}",
            b"".join(_multipart_parts(boundary, content_type, frames, encoded)),
        )

    def _download_frame(self, body: Any) -> Response:
        method = "videos.download-frame"
        req = _require_dict(body, method)
        video_id = _require_int(req, "videoId", method)
        video = self._video(video_id)
        index = _require_int(req, "frame", method)
        self._check_frames(video, [index], method)
        data = self._encode_frame(video, video_id, index)
        return Response(200, _CONTENT_TYPES[self.frame_format], data)

    def _video_download(self, body: Any) -> Response:
        video_id = body.get("id") if isinstance(body, dict) else None
        raise HttpError(404, "video file download is not emulated", {"id": video_id})

    def _figures_bulk_add(self, body: Any) -> Response:
        method = "figures.bulk.add"
        req = _require_dict(body, method)
        video = self._video(_require_int(req, "entityId", method))
        figures = req.get("figures")
        if not isinstance(figures, list) or not figures:
            raise HttpError(400, f"{method}: field 'figures' must be a non-empty list")
        with self._lock:
            objects = set(self._objects.get(video.info["id"], ()))
        checked = [
            check_new_figure(i, f, video.frames_count, objects) for i, f in enumerate(figures)
        ]
        ids = []
        with self._lock:  # all or nothing, as one platform transaction
            for fig in checked:
                created = copy.deepcopy(fig)
                created.update(
                    id=self._next_figure_id,
                    entityId=video.info["id"],
                    nnCreated=bool(fig.get("nnCreated", False)),
                    nnUpdated=bool(fig.get("nnUpdated", False)),
                )
                self._next_figure_id += 1
                self._created.append(created)
                self._figures[created["id"]] = created
                ids.append({"id": created["id"]})
        return json_response(200, ids)

    def _figures_list(self, body: Any) -> Response:
        method = "figures.list"
        req = _require_dict(body, method)
        _require_int(req, "datasetId", method)
        entities: list[int] | None = None
        for item in req.get("filter") or []:
            if isinstance(item, dict) and item.get("field") == "entityId":
                entities = [int(v) for v in item.get("value", [])]
        fields = req.get("fields")
        with self._lock:
            found = [
                f
                for f in self._figures.values()
                if f.get("datasetId", 1) == req["datasetId"] or "datasetId" not in f
                if entities is None or f.get("entityId") in entities
            ]
        if isinstance(fields, list):
            found = [{k: v for k, v in f.items() if k in fields or k == "id"} for f in found]
        size = max(1, self.page_size)
        pages = max(1, -(-len(found) // size))
        page = req.get("page", 1)
        page = page if isinstance(page, int) and 1 <= page <= pages else 1
        entities_page = copy.deepcopy(found[(page - 1) * size : page * size])
        reply = {"total": len(found), "perPage": size, "pagesCount": pages}
        return json_response(200, {**reply, "entities": entities_page})

    def _tasks_info(self, body: Any) -> Response:
        task_id = _require_int(_require_dict(body, "tasks.info"), "id", "tasks.info")
        if task_id not in self._tasks:
            raise HttpError(404, f"task {task_id} not found", {"id": task_id})
        return json_response(200, {"id": task_id, "status": "started", "meta": {}})

    def _tasks_data_get(self, body: Any) -> Response:
        req = _require_dict(body, "tasks.data.get")
        task_id = _require_int(req, "taskId", "tasks.data.get")
        if task_id not in self._tasks:
            raise HttpError(404, f"task {task_id} not found", {"id": task_id})
        fields = req.get("fields")
        if not isinstance(fields, list):
            fields = []
        return json_response(200, {"result": {str(f): None for f in fields}})

    def _notify(self, body: Any) -> Response:
        req = _require_dict(body, NOTIFY_METHOD)
        stopped = False
        if req.get("type") == _FETCH_TYPE:
            with self._lock:
                self._fetch_notifications += 1
                count = self._fetch_notifications
            stop_after = self.stop_after
            stopped = stop_after is not None and count >= stop_after
        return json_response(200, {"stopped": stopped})

    def _run_action(self, body: Any) -> Response:
        return json_response(200, {})

    def _instance_version(self, body: Any) -> Response:
        return json_response(200, {"version": "6.99.0"})


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

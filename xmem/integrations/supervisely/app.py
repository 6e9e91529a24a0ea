"""The Supervisely tracking app: the SDK's endpoints and request formats, served right.

:class:`XMemTracking` keeps the SDK's ``MaskTracking`` server (health, session info, request
bookkeeping, ``/pop_tracking_results`` …) and replaces its tracking paths, which load every frame
before tracking, return nothing until the end, write backward results on the wrong frames,
produce no results on ``/track_async`` and report failures as success
(see ``docs/supervisely.md``). Here every request is checked before work starts (bad requests
get a 4xx JSON error and nothing is written), frames stream in chunks through one
``xmem.track`` generator per request, and each frame's figures are uploaded or queued as soon
as they are computed.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from functools import partial
from itertools import chain
from typing import Any, BinaryIO

import numpy as np
from fastapi import Form, Request, UploadFile
from fastapi.responses import JSONResponse
from supervisely.api.api import Api
from supervisely.api.entity_annotation.figure_api import FigureInfo
from supervisely.imaging import image as sly_image
from supervisely.nn.inference.inference_request import InferenceRequest
from supervisely.nn.inference.tracking.mask_tracking import MaskTracking
from supervisely.sly_logger import logger as sdk_logger

from xmem.integrations.supervisely.device import DeviceSlots
from xmem.integrations.supervisely.frames import FrameFeed, local_frames, video_frames
from xmem.integrations.supervisely.geometry import MIN_PART, parse_geometry
from xmem.integrations.supervisely.keyframes import list_figures, select
from xmem.integrations.supervisely.platform import (
    CallPolicy,
    PlatformApi,
    PlatformUnavailable,
    TrackingStopped,
)
from xmem.integrations.supervisely.protocol import (
    FrameRange,
    RequestError,
    context_of,
    direction,
    id_list,
    integer,
    pick,
)
from xmem.integrations.supervisely.publish import Progress, Publisher, describe
from xmem.integrations.supervisely.session import (
    Engine,
    FrameFigures,
    Job,
    Keyframe,
    SourceObject,
    track_job,
)

logger = logging.getLogger(__name__)

ERROR_POLICY = CallPolicy(attempts=3, backoff=0.5, budget=10.0)  # reporting a failure

# endpoints whose body is the SDK's JSON envelope {"context": ..., "state": ...}
JSON_ENDPOINTS = (
    "track",
    "track_async",
    "track-api",
    "stop_tracking",
    "pop_tracking_results",
    "clear_tracking_results",
)


class XMemTracking(MaskTracking):
    """XMem mask tracking served through the Supervisely SDK.

    Args:
        engine: ``engine(frames, annotations)`` → ``FrameResult`` iterator, e.g.
            ``functools.partial(xmem.track, network, size=480)``; called once per request.
        device: where ``engine`` runs ("cuda" or "cpu"), reported in the session info.
        model_name: reported in the session info.
        weights: the checkpoint file loaded, reported in the session info.
        precision: the engine's precision ("fp32", "fp16", "bf16"), reported likewise.
        max_concurrent: how many requests may use the device at once; frames of concurrent
            requests take turns first come, first served, and a request waiting for the
            platform does not hold the device.
        min_part: drop connected parts of a tracked object smaller than this fraction of its
            largest part (specks); 0 keeps every part.
        policy: time limits of the calls back to the platform (timeout, retries).
        keyframes: give figures a person drew or corrected on other frames of the tracked
            objects to the tracker (and never write over them).
        references: also read up to this many frames with such figures on the other side of
            the source frame first, as extra memory (0: none; no gain measured on average).
        chunk: frames per bulk download (also how many decoded frames may wait).
        progress_interval: least seconds between progress notifications (the last one always
            goes). 0: one after every upload batch; the uploader batches the frames that wait
            while it is busy, so a slow platform gets fewer, larger calls, and the reply's Stop
            is seen after the next batch.
        model_dir: the SDK's model folder (default: under ``SLY_APP_DATA_DIR``).
    """

    def __init__(
        self,
        engine: Engine,
        device: str = "cpu",
        *,
        model_name: str = "XMem",
        weights: str | None = None,
        precision: str = "fp32",
        max_concurrent: int = 1,
        chunk: int = 16,
        progress_interval: float = 0.0,
        min_part: float = MIN_PART,
        policy: CallPolicy | None = None,
        keyframes: bool = True,
        references: int = 0,
        model_dir: str | None = None,
    ) -> None:
        if max_concurrent < 1 or chunk < 1:
            raise ValueError("max_concurrent and chunk must be at least 1")
        if not 0 <= min_part <= 1:
            raise ValueError("min_part must be a fraction in [0, 1]")
        self.engine = engine
        self.xmem_device = device
        self.model_name = model_name
        self.weights = weights
        self.precision = precision
        self.chunk = chunk
        self.progress_interval = progress_interval
        self.min_part = min_part
        self.policy = policy or CallPolicy()
        self.use_keyframes = keyframes
        self.references = references
        self.max_concurrent = max_concurrent
        self.device_slots = DeviceSlots(max_concurrent)
        argv = sys.argv
        sys.argv = argv[:1]  # the SDK parses the command line for its own "deploy" mode
        # the SDK logs "deployed on cuda device" before trying CUDA, also on a CPU machine
        quiet = _DropDeployedOn()
        sdk_logger.addFilter(quiet)
        try:
            super().__init__(model_dir=model_dir)
        finally:
            sys.argv = argv
            sdk_logger.removeFilter(quiet)

    # -- the SDK's model hooks --------------------------------------------------------------

    def load_on_device(self, model_dir: str | None, device: str = "cpu") -> None:  # type: ignore[override]
        """The network is loaded by the caller on the device it chose; nothing to do here."""
        self.device = self.xmem_device

    def get_classes(self) -> list[str]:
        return []

    def get_info(self) -> dict[str, Any]:
        info = super().get_info()
        info.update(
            {
                "app_name": "XMem tracking",
                "model": self.model_name,
                "weights": self.weights,
                "device": self.xmem_device,
                "precision": self.precision,
                "min_part": self.min_part,
                "tracking_algorithms": ["xmem"],
                "videos_support": True,
                "async_video_inference_support": True,
                "max_concurrent_device_requests": self.max_concurrent,
            }
        )
        return info

    # -- parsing requests (before any work: a bad request writes nothing) --------------------

    def _video(self, api: Api, video_id: int) -> Any:
        info = api.video.get_info_by_id(video_id)
        if info is None:
            raise RequestError(404, f"video {video_id} not found")
        return info

    def _job(
        self, api: Api, context: dict[str, Any], objects: list[SourceObject], track_id: str
    ) -> Job:
        video_id = integer(context, "videoId", "video_id")
        source = integer(context, "frameIndex", "frame_index")
        frames = integer(context, "frames", "framesCount", "frames_count", minimum=1)
        video = self._video(api, video_id)
        height = video.frame_height or context.get("frameHeight")
        width = video.frame_width or context.get("frameWidth")
        if not isinstance(height, int) or not isinstance(width, int):
            raise RequestError(400, f"the size of video {video_id} is unknown")
        session = pick(context, "sessionId", "session_id", default=None)
        direct = bool(context.get("useDirectProgressMessages")) and session is not None
        frame_range = FrameRange.clipped(source, direction(context), frames, video.frames_count)
        return Job(
            frames=frame_range,
            objects=tuple(objects),
            keyframes=self._keyframes(api, video, objects, frame_range),
            height=height,
            width=width,
            video_id=video_id,
            track_id=track_id,
            session_id=str(session) if direct else None,
        )

    def _keyframes(
        self, api: Api, video: Any, objects: list[SourceObject], frames: FrameRange
    ) -> tuple[Keyframe, ...]:
        """Figures a person made of these objects on other frames (none for anonymous
        geometries, or when ``keyframes`` is off); a failed lookup only costs the guidance."""
        if not self.use_keyframes or not any(o.object_id is not None for o in objects):
            return ()
        try:
            figures = list_figures(api, video.dataset_id, video.id)
        except Exception as error:
            logger.warning("could not list the video's figures, tracking without them: %s", error)
            return ()
        return select(figures, objects, frames, self.references)

    def _legacy_job(self, api: Api, context: dict[str, Any]) -> Job:
        """``/track``: figures by id, fetched from the platform."""
        track_id = pick(context, "trackId")
        figure_ids = id_list(context, "figureIds")
        object_ids = context.get("objectIds")
        integer(context, "videoId", "video_id")  # checked before any figure is fetched
        objects = []
        for i, figure_id in enumerate(figure_ids):
            figure = api.video.figure.get_info_by_id(figure_id)
            if figure is None:
                raise RequestError(404, f"figure {figure_id} not found")
            geometry = parse_geometry(figure.geometry_type, figure.geometry, f"figure {figure_id}")
            if isinstance(object_ids, list) and i < len(object_ids):
                if object_ids[i] != figure.object_id:
                    logger.warning(
                        "figure %s belongs to object %s, not %s (objectIds): using the figure's",
                        figure_id,
                        figure.object_id,
                        object_ids[i],
                    )
            objects.append(
                SourceObject(figure.geometry_type, geometry, figure.object_id, figure_id)
            )
        return self._job(api, context, objects, str(track_id))

    def _async_job(self, api: Api, context: dict[str, Any]) -> Job:
        """``/track_async``: full figure JSONs in the request."""
        figures = context.get("figures")
        if not isinstance(figures, list) or not figures:
            raise RequestError(400, "'figures' must be a non-empty list of figure JSONs")
        objects = []
        for i, figure in enumerate(figures):
            if not isinstance(figure, dict):
                raise RequestError(400, f"figures[{i}] is not a figure JSON object")
            figure_id = figure.get("id")
            name = f"figure {figure_id}" if figure_id is not None else f"figures[{i}]"
            geometry_type = figure.get("geometryType", figure.get("geometry_type"))
            geometry = parse_geometry(geometry_type, figure.get("geometry"), name)
            object_id = figure.get("objectId", figure.get("object_id"))
            objects.append(SourceObject(str(geometry_type), geometry, object_id, figure_id))
        return self._job(api, context, objects, str(context.get("trackId", "auto")))

    @staticmethod
    def _input_geometries(container: dict[str, Any]) -> list[SourceObject]:
        """``/track-api`` and ``/track-api-files``: ``[{"type", "data"}, ...]``, no identity."""
        geometries = pick(container, "input_geometries", "inputGeometries")
        if not isinstance(geometries, list) or not geometries:
            raise RequestError(400, "'input_geometries' must be a non-empty list")
        objects = []
        for i, item in enumerate(geometries):
            if not isinstance(item, dict):
                raise RequestError(400, f"input_geometries[{i}] must be {{'type', 'data'}}")
            geometry = parse_geometry(item.get("type"), item.get("data"), f"input_geometries[{i}]")
            objects.append(SourceObject(item["type"], geometry))
        return objects

    # -- running a request ------------------------------------------------------------------

    def _sender(self, api: Api, job: Job) -> Callable[[int, int], bool]:
        """Progress notifications: ``annotation-tool.run-action`` in direct mode (no Stop
        channel there), else ``videos.notify-annotation-tool`` (its reply carries Stop)."""
        a, b = job.frames.span

        def direct(current: int, total: int) -> bool:
            api.vid_ann_tool.set_direct_tracking_progress(
                job.session_id, job.video_id, job.track_id, [a, b], current, total
            )
            return False

        def notify(current: int, total: int) -> bool:
            return bool(api.video.notify_progress(job.track_id, job.video_id, a, b, current, total))

        return direct if job.session_id is not None else notify

    @staticmethod
    def _notify_error(
        api: Api, track_id: str, video_id: Any, session_id: str | None, error: BaseException
    ) -> None:
        """A tracking-error notification (direct-mode action when a session is given)."""
        name, message = describe(error)
        api = PlatformApi.around(api, ERROR_POLICY)  # never wait long to report
        try:
            if session_id is not None:
                api.vid_ann_tool.set_direct_tracking_error(
                    session_id, video_id, track_id, f"{name}: {message}"
                )
            else:
                api.video.notify_tracking_error(track_id, name, message)
        except Exception:
            logger.exception("could not report the tracking error to the annotation tool")

    def _stream(
        self,
        api: PlatformApi,
        job: Job,
        request: InferenceRequest,
        publish: Callable[[list[FrameFigures], Progress], None],
    ) -> None:
        """Track a job, handing each frame to ``publish`` while tracking goes on; progress
        ends at its total, or on Stop at the work done (nothing queued is published)."""
        total = job.frames.count * len(job.objects)
        request.set_stage(InferenceRequest.Stage.INFERENCE, 0, total)
        progress = Progress(total, self._sender(api, job), request.done, self.progress_interval)

        def stopped() -> bool:
            return request.is_stopped() or progress.stop_requested.is_set()

        api.cancelled = stopped  # retries of the platform calls end on Stop too
        publisher = Publisher(lambda frames: publish(frames, progress), stopped=stopped)
        frames = video_frames(api, job.video_id, job.feed, self.chunk, stopped)
        try:
            for frame in track_job(
                job, frames, self.engine, self.device_slots, stopped, self.min_part
            ):
                publisher.put(frame)
            publisher.close(drain=not stopped())
        except TrackingStopped:
            publisher.close(drain=False)
        except BaseException as error:
            publisher.close(drain=False)
            self._notify_error(api, job.track_id, job.video_id, job.session_id, error)
            raise
        finally:
            frames.close()
        if stopped():
            request.stop()  # the request ends as "Cancelled"
            progress.cancel()
            logger.info(
                "tracking %s stopped at %d/%d (%d tracked frames not sent)",
                job.track_id,
                progress.current,
                total,
                publisher.dropped,
            )
        else:
            progress.finish()

    def _upload(self, api: Api, job: Job, frames: list[FrameFigures], progress: Progress) -> None:
        """Legacy mode: create the frames' figures on the video, then count them done."""
        figures = [
            {
                "objectId": obj.object_id,
                "geometryType": geometry.geometry_name(),
                "geometry": geometry.to_json(),
                "meta": {"frame": frame.index, "sourceFigureId": obj.figure_id},
                "trackId": job.track_id,
                "nnCreated": True,
                "nnUpdated": True,
            }
            for frame, obj, geometry in _pieces(job, frames)
        ]
        api.video.figure.create_bulk(figures, entity_id=job.video_id, batch_size=100)
        progress.advance(len(frames) * len(job.objects))

    def _enqueue(
        self,
        job: Job,
        request: InferenceRequest,
        frames: list[FrameFigures],
        progress: Progress,
    ) -> None:
        """Async mode: queue the frames' figures for ``/pop_tracking_results``; wait while the
        client lets the queue fill up (the SDK pauses the request), so memory stays bounded."""
        results = [
            FigureInfo(
                id=uuid.uuid4().hex,
                class_id=None,
                updated_at=None,
                created_at=None,
                entity_id=job.video_id,
                object_id=obj.object_id,
                project_id=None,
                dataset_id=None,
                frame_index=frame.index,
                geometry_type=geometry.geometry_name(),
                geometry=geometry.to_json(),
                geometry_meta=None,
                tags=[],
                meta={"frame": frame.index, "sourceFigureId": obj.figure_id},
                area=None,
            )
            for frame, obj, geometry in _pieces(job, frames)
        ]
        request.add_results(results)
        while request.is_paused() and not request.is_stopped():
            threading.Event().wait(0.05)
        progress.advance(len(frames) * len(job.objects))

    def _collect(
        self,
        job: Job,
        frames: FrameFeed,
        request: InferenceRequest,
        one_per_object: bool,
    ) -> list[list[Any]]:
        """Synchronous modes: the geometries of every tracked frame, in input order."""
        total = job.frames.count * len(job.objects)
        request.set_stage(InferenceRequest.Stage.INFERENCE, 0, total)
        rows: list[list[Any]] = []
        stopped = request.is_stopped
        for frame in track_job(job, frames, self.engine, self.device_slots, stopped, self.min_part):
            if one_per_object:  # /track-api: one slot per input geometry, null when lost
                rows.append([_largest(pieces) for pieces in frame.geometries])
            else:  # /track-api-files: every piece, in input order
                rows.append([_item(g) for pieces in frame.geometries for g in pieces])
            request.done(len(job.objects))
        return rows

    # -- endpoints --------------------------------------------------------------------------

    def track(self, api: Api, state: dict, context: dict) -> dict[str, Any]:
        """``/track``: figures are created on the video as frames are tracked."""
        api = PlatformApi.around(api, self.policy)
        try:
            job = self._legacy_job(api, context)
            job.source_masks()
        except (RequestError, PlatformUnavailable) as error:  # the tool waits for this track
            track_id = context.get("trackId")
            if isinstance(track_id, str | int):
                direct = context.get("useDirectProgressMessages")
                session = context.get("sessionId") if direct else None
                self._notify_error(api, str(track_id), context.get("videoId"), session, error)
            raise
        request, _ = self.inference_requests_manager.schedule_task(
            lambda inference_request: self._stream(
                api, job, inference_request, partial(self._upload, api, job)
            )
        )
        return {"message": "Tracking has started.", "inference_request_uuid": request.uuid}

    def track_async(self, api: Api, state: dict, context: dict) -> dict[str, Any]:
        """``/track_async``: figures are queued for ``/pop_tracking_results``."""
        api = PlatformApi.around(api, self.policy)
        job = self._async_job(api, context)
        job.source_masks()

        def run(inference_request: InferenceRequest) -> None:
            self._stream(
                api, job, inference_request, partial(self._enqueue, job, inference_request)
            )

        request, _ = self.inference_requests_manager.schedule_task(run)
        return {"message": "Inference has started.", "inference_request_uuid": request.uuid}

    def _run_sync(self, work: Callable[[InferenceRequest], list[list[Any]]]) -> list[list[Any]]:
        request, future = self.inference_requests_manager.schedule_task(
            lambda inference_request: setattr(
                inference_request, "final_result", work(inference_request)
            )
        )
        future.result()
        if request.exception is not None:
            raise request.exception
        return request.final_result

    def track_api(self, api: Api, state: dict, context: dict) -> list[list[Any]]:  # type: ignore[override]
        """``/track-api``: one row per tracked frame, one ``{type, data}`` (or null) per input
        geometry, in input order; the geometry type of the input is kept."""
        api = PlatformApi.around(api, self.policy)
        job = self._job(api, context, self._input_geometries(context), "auto")
        job.source_masks()

        def work(request: InferenceRequest) -> list[list[Any]]:
            api.cancelled = request.is_stopped
            frames = video_frames(api, job.video_id, job.feed, self.chunk, request.is_stopped)
            try:
                return self._collect(job, frames, request, one_per_object=True)
            finally:
                frames.close()

        return self._run_sync(work)

    def track_api_files(self, files: list[BinaryIO], settings: dict) -> list[list[Any]]:  # type: ignore[override]
        """``/track-api-files``: frames uploaded with the request (source first); no platform
        calls. All objects are tracked in one pass."""
        objects = self._input_geometries(settings)
        source = integer(settings, "frameIndex", "frame_index")
        frames = integer(settings, "frames", "framesCount", minimum=1)
        if len(files) != frames + 1:
            raise RequestError(
                400,
                f"{frames} frames to track need {frames + 1} files (source first), "
                f"got {len(files)}",
            )
        frame_range = FrameRange(source, direction(settings), frames)
        decoded = _decode_files(files, frame_range.indexes)
        first = next(decoded)
        height, width = first[1].shape[:2]
        job = Job(frame_range, tuple(objects), height, width)
        job.source_masks()  # a 400 now rather than an error in the worker
        return self._run_sync(
            lambda request: self._collect(
                job, local_frames(chain([first], decoded)), request, False
            )
        )

    def _request_of(self, context: dict[str, Any]) -> InferenceRequest:
        key = context.get("inference_request_uuid")
        if not isinstance(key, str) or not key:
            raise RequestError(400, "'inference_request_uuid' is missing from the context")
        try:
            return self.inference_requests_manager.get(key)
        except RuntimeError:
            raise RequestError(404, f"no tracking request {key}") from None

    def stop_tracking(self, state: dict, context: dict) -> dict[str, Any]:
        self._request_of(context).stop()
        return {"message": "Inference will be stopped.", "success": True}

    def pop_tracking_results(self, state: dict, context: dict) -> dict[str, Any]:
        request = self._request_of(context)
        frame_range = pick(context, "frameRange", "frame_range", "frames", default=None)
        if frame_range is not None and not (
            isinstance(frame_range, list)
            and len(frame_range) == 2
            and all(isinstance(v, int) for v in frame_range)
        ):
            raise RequestError(400, "'frameRange' must be [first, last]")
        return self._pop_tracking_results(request.uuid, frame_range)

    def clear_tracking_results(self, state: dict, context: dict) -> dict[str, Any]:
        request = self._request_of(context)
        self._clear_tracking_results(request.uuid)
        return {"message": "Inference results cleared.", "success": True}

    def _register_endpoints(self) -> None:
        server = self._app.get_server()
        handlers: dict[str, Callable[[Api, dict, dict], Any]] = {
            "track": self.track,
            "track_async": self.track_async,
            "track-api": self.track_api,
            "stop_tracking": lambda api, state, context: self.stop_tracking(state, context),
            "pop_tracking_results": lambda api, state, ctx: self.pop_tracking_results(state, ctx),
            "clear_tracking_results": lambda api, state, ctx: self.clear_tracking_results(
                state, ctx
            ),
        }

        @server.middleware("http")
        async def json_envelope(request: Request, call_next: Any) -> Any:
            """A non-JSON body on a JSON endpoint is a 400 (the SDK answers 500)."""
            name = request.url.path.rsplit("/", 1)[-1]
            if request.method == "POST" and name in JSON_ENDPOINTS:
                try:
                    if "application/json" not in request.headers.get("Content-Type", ""):
                        raise RequestError(400, "the body must be JSON (application/json)")
                    context_of(json.loads(await request.body()))
                except (RequestError, json.JSONDecodeError, UnicodeDecodeError) as error:
                    return _error_response(RequestError(400, str(error)))
            return await call_next(request)

        for name, handler in handlers.items():
            server.add_api_route(f"/{name}", _json_route(self, handler), methods=["POST"])

        def track_api_files(files: list[UploadFile], settings: str = Form("{}")) -> Any:
            try:
                parsed = json.loads(settings)
                if not isinstance(parsed, dict):
                    raise RequestError(400, "'settings' must be a JSON object")
                return self.track_api_files([f.file for f in files], parsed)
            except Exception as error:
                return _error_response(error)

        server.add_api_route("/track-api-files", track_api_files, methods=["POST"])


class _DropDeployedOn(logging.Filter):
    """Drops the SDK's "Model has been successfully deployed on <device> device" lines: the
    device it names is the one it tried, not the one in use (the app logs that itself)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "successfully deployed on" not in str(record.msg)


def _json_route(
    app: XMemTracking, handler: Callable[[Api, dict, dict], Any]
) -> Callable[[Request], Any]:
    def endpoint(request: Request) -> Any:
        context = request.state.context
        state = request.state.state or {}
        try:
            return handler(app.api_from_request(request), state, context)
        except Exception as error:
            logger.info("request failed: %s", error)
            return _error_response(error)

    return endpoint


def _error_response(error: BaseException) -> JSONResponse:
    """4xx for a bad request (a RequestError, or JSON that does not parse), 503 when the
    platform kept failing, 500 otherwise."""
    if isinstance(error, RequestError):
        return JSONResponse(error.body(), status_code=error.status)
    if isinstance(error, PlatformUnavailable):
        name, message = describe(error)
        return JSONResponse({"error": name, "message": message, "success": False}, 503)
    if isinstance(error, json.JSONDecodeError):
        body = {"error": "RequestError", "message": f"invalid JSON: {error}", "success": False}
        return JSONResponse(body, status_code=400)
    name, message = describe(error)
    logger.error("tracking failed: %s: %s", name, message)
    return JSONResponse({"error": name, "message": message, "success": False}, status_code=500)


def _decode_files(files: list[BinaryIO], indexes: list[int]) -> Iterator[tuple[int, np.ndarray]]:
    """Uploaded frames, decoded one at a time as tracking reaches them."""
    for index, file in zip(indexes, files, strict=True):
        try:
            rgb = sly_image.read_bytes(file.read())
        except Exception as error:
            raise RequestError(400, f"file {index - indexes[0]} is not an image") from error
        yield index, np.ascontiguousarray(rgb[..., :3])


def _pieces(
    job: Job, frames: list[FrameFigures]
) -> Iterator[tuple[FrameFigures, SourceObject, Any]]:
    """(frame, object, geometry) for every geometry of the frames, objects in job order."""
    for frame in frames:
        for obj, pieces in zip(job.objects, frame.geometries, strict=True):
            for geometry in pieces:
                yield frame, obj, geometry


def _item(geometry: Any) -> dict[str, Any]:
    return {"type": geometry.geometry_name(), "data": geometry.to_json()}


def _largest(pieces: list[Any]) -> dict[str, Any] | None:
    """One geometry per object: a bitmap, or its largest polygon."""
    return _item(max(pieces, key=lambda g: g.area)) if pieces else None

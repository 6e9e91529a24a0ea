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

import logging
import sys
import threading
from collections.abc import Callable
from functools import partial
from typing import Any, BinaryIO

from supervisely.api.api import Api
from supervisely.nn.inference.inference_request import InferenceRequest
from supervisely.nn.inference.tracking.mask_tracking import MaskTracking
from supervisely.sly_logger import logger as sdk_logger

from xmem.integrations.supervisely import protocol
from xmem.integrations.supervisely.device import DeviceSlots
from xmem.integrations.supervisely.fields import RequestError, direct_session
from xmem.integrations.supervisely.frames import FrameFeed, local_frames, video_frames
from xmem.integrations.supervisely.options import ServeOptions
from xmem.integrations.supervisely.platform import (
    CallPolicy,
    PlatformApi,
    PlatformUnavailable,
    TrackingStopped,
)
from xmem.integrations.supervisely.publish import (
    Progress,
    Publisher,
    api_row,
    figure_infos,
    figure_jsons,
    notify_error,
    progress_sender,
)
from xmem.integrations.supervisely.routes import JsonHandler, register
from xmem.integrations.supervisely.session import Engine, FrameFigures, TrackRequest, track_job

logger = logging.getLogger(__name__)

Rows = list[list[dict[str, Any] | None]]  # the synchronous modes' answer: frames × geometries


# supervisely ships no type information (no py.typed), so MaskTracking is Any to mypy
class XMemTracking(MaskTracking):  # type: ignore[misc]
    """XMem mask tracking served through the Supervisely SDK.

    Args:
        engine: ``engine(frames, annotations)`` → ``FrameResult`` iterator, e.g.
            ``Tracker(network).track`` (:func:`~.server.tracking_engine`); called once per
            request with the request's frames as they download (at most
            :data:`~xmem.inference.tracker.READ_AHEAD` ahead of its results).
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
        options: ServeOptions | None = None,
        progress_interval: float = 0.0,
        policy: CallPolicy | None = None,
        model_dir: str | None = None,
    ) -> None:
        options = options or ServeOptions()
        self.engine = engine
        self.xmem_device = device
        self.model_name = model_name
        self.weights = weights
        self.precision = precision
        self.chunk = options.chunk
        self.progress_interval = progress_interval
        self.min_part = options.min_part
        self.policy = policy or CallPolicy()
        self.use_keyframes = options.keyframes
        self.references = options.references
        self.max_concurrent = options.max_concurrent
        self.device_slots = DeviceSlots(options.max_concurrent)
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

    def load_on_device(self, model_dir: str | None, device: str = "cpu") -> None:
        """The network is loaded by the caller on the device it chose; nothing to do here."""
        self.device = self.xmem_device

    def get_classes(self) -> list[str]:
        return []

    def get_info(self) -> dict[str, Any]:
        info: dict[str, Any] = super().get_info()
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

    @property
    def guidance(self) -> protocol.Guidance:
        """Which figures a person made on other frames requests give the tracker."""
        return protocol.Guidance(self.use_keyframes, self.references)

    # -- running a request ------------------------------------------------------------------

    def _stream(
        self,
        api: PlatformApi,
        job: TrackRequest,
        request: InferenceRequest,
        publish: Callable[[list[FrameFigures]], None],
    ) -> None:
        """Track a job, handing each frame to ``publish`` while tracking goes on, then counting
        it done; progress ends at its total, or on Stop at the work done (nothing queued is
        published)."""
        total = _start(request, job)
        progress = Progress(total, progress_sender(api, job), request.done, self.progress_interval)

        def stopped() -> bool:
            return request.is_stopped() or progress.stop_requested.is_set()

        api.cancelled = stopped  # retries of the platform calls end on Stop too

        def published(frames: list[FrameFigures]) -> None:
            publish(frames)
            progress.advance(len(frames) * len(job.objects))

        publisher = Publisher(published, stopped=stopped)
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
            notify_error(api, job.track_id, job.video_id, job.session_id, error)
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

    def _upload(self, api: Api, job: TrackRequest, frames: list[FrameFigures]) -> None:
        """Legacy mode: create the frames' figures on the video."""
        figures = figure_jsons(job, frames)
        api.video.figure.create_bulk(figures, entity_id=job.video_id, batch_size=100)

    def _enqueue(
        self,
        job: TrackRequest,
        request: InferenceRequest,
        frames: list[FrameFigures],
    ) -> None:
        """Async mode: queue the frames' figures for ``/pop_tracking_results``; wait while the
        client lets the queue fill up (the SDK pauses the request), so memory stays bounded."""
        results = figure_infos(job, frames)
        request.add_results(results)
        while request.is_paused() and not request.is_stopped():
            threading.Event().wait(0.05)

    def _collect(
        self,
        job: TrackRequest,
        frames: FrameFeed,
        request: InferenceRequest,
        one_per_object: bool,
    ) -> Rows:
        """Synchronous modes: the geometries of every tracked frame, in input order."""
        _start(request, job)
        rows: Rows = []
        stopped = request.is_stopped
        for frame in track_job(job, frames, self.engine, self.device_slots, stopped, self.min_part):
            rows.append(api_row(frame, one_per_object))
            request.done(len(job.objects))
        return rows

    # -- endpoints --------------------------------------------------------------------------

    def track(self, api: Api, state: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
        """``/track``: figures are created on the video as frames are tracked."""
        api = PlatformApi.around(api, self.policy)
        try:
            job = protocol.legacy_job(api, context, self.guidance)
        except (RequestError, PlatformUnavailable) as error:  # the tool waits for this track
            track_id = context.get("trackId")
            if isinstance(track_id, str | int):
                session = direct_session(context)
                notify_error(api, str(track_id), context.get("videoId"), session, error)
            raise
        request, _ = self.inference_requests_manager.schedule_task(
            lambda inference_request: self._stream(
                api, job, inference_request, partial(self._upload, api, job)
            )
        )
        return {"message": "Tracking has started.", "inference_request_uuid": request.uuid}

    def track_async(
        self, api: Api, state: dict[str, Any], context: dict[str, Any]
    ) -> dict[str, Any]:
        """``/track_async``: figures are queued for ``/pop_tracking_results``."""
        api = PlatformApi.around(api, self.policy)
        job = protocol.async_job(api, context, self.guidance)

        def run(inference_request: InferenceRequest) -> None:
            self._stream(
                api, job, inference_request, partial(self._enqueue, job, inference_request)
            )

        request, _ = self.inference_requests_manager.schedule_task(run)
        return {"message": "Inference has started.", "inference_request_uuid": request.uuid}

    def _run_sync(self, work: Callable[[InferenceRequest], Rows]) -> Rows:
        request, future = self.inference_requests_manager.schedule_task(
            lambda inference_request: setattr(
                inference_request, "final_result", work(inference_request)
            )
        )
        future.result()
        if request.exception is not None:
            raise request.exception
        rows: Rows = request.final_result
        return rows

    def track_api(self, api: Api, state: dict[str, Any], context: dict[str, Any]) -> Rows:
        """``/track-api``: one row per tracked frame, one ``{type, data}`` (or null) per input
        geometry, in input order; the geometry type of the input is kept."""
        api = PlatformApi.around(api, self.policy)
        job = protocol.api_job(api, context, self.guidance)

        def work(request: InferenceRequest) -> Rows:
            api.cancelled = request.is_stopped
            frames = video_frames(api, job.video_id, job.feed, self.chunk, request.is_stopped)
            try:
                return self._collect(job, frames, request, one_per_object=True)
            finally:
                frames.close()

        return self._run_sync(work)

    def track_api_files(self, files: list[BinaryIO], settings: dict[str, Any]) -> Rows:
        """``/track-api-files``: frames uploaded with the request (source first); no platform
        calls. All objects are tracked in one pass."""
        job, frames = protocol.files_job(files, settings)
        return self._run_sync(
            lambda request: self._collect(job, local_frames(frames), request, False)
        )

    def _request_of(self, context: dict[str, Any]) -> InferenceRequest:
        key = protocol.request_key(context)
        try:
            return self.inference_requests_manager.get(key)
        except RuntimeError:
            raise RequestError(404, f"no tracking request {key}") from None

    def stop_tracking(self, state: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
        self._request_of(context).stop()
        return {"message": "Inference will be stopped.", "success": True}

    def pop_tracking_results(
        self, state: dict[str, Any], context: dict[str, Any]
    ) -> dict[str, Any]:
        request = self._request_of(context)
        results: dict[str, Any] = self._pop_tracking_results(
            request.uuid, protocol.pop_range(context)
        )
        return results

    def clear_tracking_results(
        self, state: dict[str, Any], context: dict[str, Any]
    ) -> dict[str, Any]:
        request = self._request_of(context)
        self._clear_tracking_results(request.uuid)
        return {"message": "Inference results cleared.", "success": True}

    def endpoints(self) -> dict[str, JsonHandler]:
        """The JSON endpoints by path: one table for their routes and the check of bodies."""
        return {
            "track": self.track,
            "track_async": self.track_async,
            "track-api": self.track_api,
            "stop_tracking": lambda api, state, context: self.stop_tracking(state, context),
            "pop_tracking_results": lambda api, state, ctx: self.pop_tracking_results(state, ctx),
            "clear_tracking_results": lambda api, state, ctx: self.clear_tracking_results(
                state, ctx
            ),
        }

    def _register_endpoints(self) -> None:
        server = self._app.get_server()
        register(server, self.endpoints(), self.api_from_request, self.track_api_files)


def _start(request: InferenceRequest, job: TrackRequest) -> int:
    """Put the request in its tracking stage; the total is tracked frames × objects."""
    total = job.frames.count * len(job.objects)
    request.set_stage(InferenceRequest.Stage.INFERENCE, 0, total)
    return total


class _DropDeployedOn(logging.Filter):
    """Drops the SDK's "Model has been successfully deployed on <device> device" lines: the
    device it names is the one it tried, not the one in use (the app logs that itself)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "successfully deployed on" not in str(record.msg)

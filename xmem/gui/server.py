"""The GUI's HTTP server: the page (static files of this package) and a small JSON API.

API (every path under ``/api``; errors are ``{"detail": message}`` with a 4xx or 5xx status):

- ``GET  /state``: the project (frames, objects, annotated and tracked frames), the last
  error and the job's status; ``POST /open`` ``{"source", "project"}`` opens or creates one.
- ``GET  /frame/{i}``: the frame as JPEG. ``GET /mask/{i}``: its object ids, H×W bytes
  (header ``X-XMem-Human: 1`` when a person drew them). ``PUT /annotation/{i}`` with H×W bytes
  saves a person's mask; ``DELETE /annotation/{i}`` gives the frame back to the tracker.
- ``POST /objects`` ``{"name", "color", "label"}`` (label: the object's class),
  ``PATCH /objects/{id}``, ``DELETE /objects/{id}``.
- ``POST /track`` ``{"start", "direction": "forward"|"backward"|"both", "count": N|null,
  "adapt": true|false|null, "until": "keyframe"|"end"}`` (adapt: test-time adaptation to the
  start frame's mask first; until: stop before the next frame a person drew, the default, or
  go on to the end), ``POST /fill`` ``{"frame", "adapt"}`` (the frames between the person's
  keyframes around it, from both), ``POST /export`` ``{"out": folder|null, "format":
  "davis"|"coco"|"yolo"|"cvat"|"cvat-mask"|"alpha"}``, ``POST /stop``, ``GET /job``.
- ``GET /quality``: every tracked frame's drift score and figures, and the suspect frames.
- ``PUT /pin/{i}``, ``DELETE /pin/{i}``: keep frame i in the tracker's memory (or not).
- ``POST /import`` ``{"path": folder of PNGs or COCO .json, "keyframes": bool}``.
- ``GET  /job/preview?masks=1``: the job's status (header ``X-XMem-Job``, JSON) and the frame
  it computed last (header ``X-XMem-Frame``) as JPEG with the masks drawn in; 204 without a
  frame. The page follows a track with it, one request per update.

With a token, every request must carry it once (``?token=``, which sets a cookie) or in the
``X-XMem-Token`` header.
"""

from __future__ import annotations

import errno
import json
import logging
import mimetypes
import secrets
from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from xmem.errors import XMemError

from .workspace import Workspace

logger = logging.getLogger(__name__)

COOKIE = "xmem_token"
# The page is native ES modules, which browsers refuse unless served as JavaScript; some
# systems map .js to text/plain (Windows' registry), so say it here.
mimetypes.add_type("text/javascript", ".js")
STATIC = resources.files("xmem.gui") / "static"


class OpenRequest(BaseModel):
    source: str | None = None
    project: str | None = None


class ObjectRequest(BaseModel):
    name: str | None = None
    color: str | None = None
    label: str | None = None


class TrackRequest(BaseModel):
    start: int
    direction: str = "forward"
    count: int | None = None
    adapt: bool | None = None  # None: as `xmem gui --adapt` says
    until: str = "keyframe"


class FillRequest(BaseModel):
    frame: int
    adapt: bool | None = None


class ExportRequest(BaseModel):
    out: str | None = None
    format: str = "davis"


class ImportRequest(BaseModel):
    path: str
    keyframes: bool = False


def create_app(workspace: Workspace, token: str | None = None) -> FastAPI:
    """The FastAPI app serving ``workspace``; ``token`` None: no authentication (loopback)."""
    app = FastAPI(title="xmem gui", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(GZipMiddleware, minimum_size=1024)
    _add_error_handlers(app)
    if token is not None:
        _add_token_check(app, token)
    _add_project_routes(app, workspace)
    _add_edit_routes(app, workspace)
    _add_job_routes(app, workspace)
    return app


def _add_error_handlers(app: FastAPI) -> None:
    """Errors as ``{"detail": message}``, with the status their type carries."""

    @app.exception_handler(XMemError)
    async def user_error(request: Request, exc: XMemError) -> JSONResponse:
        logger.error("error: %s", exc)
        return JSONResponse({"detail": str(exc)}, status_code=exc.status)

    @app.exception_handler(OSError)
    async def os_error(request: Request, exc: OSError) -> JSONResponse:
        full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
        message = "the disk is full" if full else f"{exc.strerror or exc}"
        logger.error("error: %s", message)
        return JSONResponse({"detail": message}, status_code=507 if full else 500)


def _add_token_check(app: FastAPI, token: str) -> None:
    """Every request must carry ``token`` (query, header or the cookie set from the query)."""

    @app.middleware("http")
    async def check_token(request: Request, call_next: Any) -> Response:
        given = (
            request.query_params.get("token")
            or request.headers.get("x-xmem-token")
            or request.cookies.get(COOKIE)
            or ""
        )
        if not secrets.compare_digest(given.encode(), token.encode()):
            return JSONResponse(
                {"detail": "missing or wrong token: open the URL that `xmem gui` printed"},
                status_code=401,
            )
        response: Response = await call_next(request)
        if request.query_params.get("token"):
            response.set_cookie(COOKIE, token, httponly=True, samesite="strict")
        return response


def _add_project_routes(app: FastAPI, workspace: Workspace) -> None:
    """The page, and the project: open it, its frames and masks."""

    @app.get("/")
    def index() -> FileResponse:
        return FileResponse(str(STATIC / "index.html"), headers={"Cache-Control": "no-store"})

    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")

    @app.get("/api/state")
    def state() -> dict[str, Any]:
        return workspace.state()

    @app.post("/api/open")
    def open_project(body: OpenRequest) -> dict[str, Any]:
        workspace.open(body.source or None, body.project or None)
        return workspace.state()

    @app.get("/api/frame/{index}")
    def frame(index: int) -> Response:
        return Response(
            workspace.frame_jpeg(index),
            media_type="image/jpeg",
            headers={"Cache-Control": "private, max-age=3600"},
        )

    @app.get("/api/mask/{index}")
    def mask(index: int) -> Response:
        ids, human = workspace.mask(index)
        return Response(
            ids.tobytes(),
            media_type="application/octet-stream",
            headers={"X-XMem-Human": "1" if human else "0", "Cache-Control": "no-store"},
        )


def _add_edit_routes(app: FastAPI, workspace: Workspace) -> None:
    """A person's edits: annotations, objects, pins, imported masks."""

    @app.put("/api/annotation/{index}")
    async def save_annotation(index: int, request: Request) -> dict[str, Any]:
        data = await request.body()
        await run_in_threadpool(workspace.save_annotation, index, data)
        return {"saved": index}

    @app.delete("/api/annotation/{index}")
    def forget_annotation(index: int) -> dict[str, Any]:
        workspace.forget_annotation(index)
        return {"forgotten": index}

    @app.post("/api/objects")
    def add_object(body: ObjectRequest) -> dict[str, Any]:
        return workspace.add_object(body.name, body.color, body.label)

    @app.patch("/api/objects/{object_id}")
    def edit_object(object_id: int, body: ObjectRequest) -> dict[str, Any]:
        return workspace.edit_object(object_id, body.name, body.color, body.label)

    @app.get("/api/quality")
    def quality() -> dict[str, Any]:
        return workspace.quality()

    @app.put("/api/pin/{index}")
    def pin(index: int) -> dict[str, Any]:
        workspace.pin(index, True)
        return {"pinned": index}

    @app.delete("/api/pin/{index}")
    def unpin(index: int) -> dict[str, Any]:
        workspace.pin(index, False)
        return {"unpinned": index}

    @app.post("/api/import")
    def import_masks(body: ImportRequest) -> dict[str, Any]:
        frames = workspace.import_masks(body.path, body.keyframes)
        return {"imported": frames, **workspace.state()}

    @app.delete("/api/objects/{object_id}")
    def delete_object(object_id: int) -> dict[str, Any]:
        workspace.delete_object(object_id)
        return {"deleted": object_id}


def _add_job_routes(app: FastAPI, workspace: Workspace) -> None:
    """Jobs (track, fill, export): start, stop, follow."""

    @app.post("/api/track")
    def start_track(body: TrackRequest) -> dict[str, Any]:
        status = workspace.track(body.start, body.direction, body.count, body.adapt, body.until)
        return status.__dict__

    @app.post("/api/fill")
    def start_fill(body: FillRequest) -> dict[str, Any]:
        return workspace.fill(body.frame, body.adapt).__dict__

    @app.post("/api/export")
    def start_export(body: ExportRequest) -> dict[str, Any]:
        return workspace.export(body.out, body.format).__dict__

    @app.post("/api/stop")
    def stop() -> dict[str, Any]:
        return workspace.stop().__dict__

    @app.get("/api/job/preview")
    def job_preview(masks: bool = True) -> Response:
        status, index, jpeg = workspace.preview(masks)
        headers = {"X-XMem-Job": json.dumps(status.__dict__), "Cache-Control": "no-store"}
        if jpeg is None:
            return Response(status_code=204, headers=headers)
        headers["X-XMem-Frame"] = str(index)
        return Response(jpeg, media_type="image/jpeg", headers=headers)

    @app.get("/api/job")
    def job() -> dict[str, Any]:
        return workspace.job_status().__dict__

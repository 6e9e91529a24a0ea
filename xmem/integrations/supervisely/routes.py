"""The app's HTTP routes: one table of JSON endpoints, the upload endpoint, errors as JSON.

Every JSON endpoint takes the SDK's envelope ``{"context", "state", "api_token", ...}``; a body
that is not JSON, or has no ``context`` object, is a 400 before its handler runs (the SDK
answers 500). Errors are ``{"error", "message", "success": false}``: 4xx for a bad request, 503
when the platform kept failing, 500 otherwise.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any, BinaryIO

from fastapi import FastAPI, Form, Request, UploadFile
from fastapi.responses import JSONResponse
from supervisely.api.api import Api

from xmem.integrations.supervisely.fields import RequestError, context_of
from xmem.integrations.supervisely.platform import PlatformUnavailable
from xmem.integrations.supervisely.publish import describe

logger = logging.getLogger(__name__)

JsonHandler = Callable[
    [Api, dict[str, Any], dict[str, Any]], Any
]  # (api, state, context) -> the reply
FilesHandler = Callable[[list[BinaryIO], dict[str, Any]], Any]  # (frames, settings) -> the reply


def register(
    server: FastAPI,
    endpoints: Mapping[str, JsonHandler],
    api_of: Callable[[Request], Api],
    track_files: FilesHandler,
) -> None:
    """Add ``POST /<name>`` for every JSON endpoint of the table, with the check of their
    bodies, and ``POST /track-api-files`` (multipart ``files`` and a ``settings`` JSON)."""

    @server.middleware("http")
    async def json_envelope(request: Request, call_next: Any) -> Any:
        """A non-JSON body on a JSON endpoint is a 400 (the SDK answers 500)."""
        name = request.url.path.rsplit("/", 1)[-1]
        if request.method == "POST" and name in endpoints:
            try:
                if "application/json" not in request.headers.get("Content-Type", ""):
                    raise RequestError(400, "the body must be JSON (application/json)")
                context_of(json.loads(await request.body()))
            except (RequestError, json.JSONDecodeError, UnicodeDecodeError) as error:
                return error_response(RequestError(400, str(error)))
        return await call_next(request)

    for name, handler in endpoints.items():
        server.add_api_route(f"/{name}", _json_route(handler, api_of), methods=["POST"])

    def track_api_files(files: list[UploadFile], settings: str = Form("{}")) -> Any:
        try:
            parsed = json.loads(settings)
            if not isinstance(parsed, dict):
                raise RequestError(400, "'settings' must be a JSON object")
            return track_files([f.file for f in files], parsed)
        except Exception as error:
            return error_response(error)

    server.add_api_route("/track-api-files", track_api_files, methods=["POST"])


def _json_route(handler: JsonHandler, api_of: Callable[[Request], Api]) -> Callable[..., Any]:
    def endpoint(request: Request) -> Any:
        context = request.state.context
        state = request.state.state or {}
        try:
            return handler(api_of(request), state, context)
        except Exception as error:
            logger.info("request failed: %s", error)
            return error_response(error)

    return endpoint


def error_response(error: BaseException) -> JSONResponse:
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

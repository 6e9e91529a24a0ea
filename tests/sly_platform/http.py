"""The emulator's HTTP plumbing: a threading server that hands each API call to the emulator.

``POST /public/api/v3/<method>`` goes to ``emulator.serve(method, body, api_key)``; anything
else is a 404. Open keep-alive connections are tracked so that stopping the server closes them.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

logger = logging.getLogger(__name__)

API_PREFIX = "/public/api/v3/"


@dataclass(frozen=True)
class Response:
    status: int
    content_type: str
    body: bytes


class HttpError(Exception):
    """An error answered to the client as ``status`` with a JSON body."""

    def __init__(self, status: int, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details


def json_response(status: int, obj: Any) -> Response:
    return Response(status, "application/json", json.dumps(obj).encode("utf-8"))


def error_response(err: HttpError) -> Response:
    return json_response(err.status, {"error": err.message, "details": err.details})


class Emulator(Protocol):
    def serve(self, method: str, raw: bytes, api_key: str | None) -> Response: ...


class Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], emulator: Emulator) -> None:
        self.emulator = emulator
        self._conn_lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        super().__init__(address, Handler)

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


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Server

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

    def _send(self, response: Response, head_only: bool = False) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if not head_only:
            self.wfile.write(response.body)

    def _not_found(self, head_only: bool = False) -> None:
        self._read_body()
        err = HttpError(404, f"no route {self.command} {self.path}")
        self._send(error_response(err), head_only=head_only)

    def do_GET(self) -> None:  # noqa: N802
        self._not_found()

    def do_HEAD(self) -> None:  # noqa: N802
        self._not_found(head_only=True)

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_GET

    def do_POST(self) -> None:  # noqa: N802
        path = self.path.split("?", 1)[0]
        method = path[len(API_PREFIX) :] if path.startswith(API_PREFIX) else ""
        if not method or "/" in method:
            self._not_found()
            return
        raw = self._read_body()
        self._send(self.server.emulator.serve(method, raw, self.headers.get("x-api-key")))

"""``xmem gui [VIDEO|FRAMES_DIR] [--project DIR]``: annotate a video in the browser."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import secrets
from pathlib import Path

from xmem.cli.options import add_inference_options, load_tracker, select_device, track_options
from xmem.errors import XMemError

logger = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "gui",
        help="annotate a video in the browser: draw, track, correct, export (needs xmem[gui])",
        description="Start a local web app to annotate a video: draw objects, track them, "
        "correct frames and track again, export masks. Open the printed URL in a browser "
        "(over SSH: ssh -L 7860:localhost:7860 HOST).",
    )
    p.add_argument(
        "input",
        nargs="?",
        type=Path,
        default=None,
        help="video file or folder of frames (optional: the page can open one)",
    )
    p.add_argument(
        "--project",
        type=Path,
        default=None,
        help="project folder: annotations, masks and objects; reopen it to resume "
        "(default: VIDEO.xmem beside the video)",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p.add_argument(
        "--token",
        default=None,
        help="secret the page must present; required off loopback (a random one is made and "
        "printed when missing)",
    )
    add_inference_options(p)
    p.set_defaults(run=run)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def access_token(host: str, token: str | None) -> str | None:
    """The token to require: the given one, else a random one off loopback, else None."""
    if token is not None:
        if len(token) < 8:
            raise XMemError("--token must have at least 8 characters")
        return token
    if is_loopback(host):
        return None
    logger.warning(
        "listening on %s, which other machines may reach: a random token is required", host
    )
    return secrets.token_urlsafe(18)


def page_url(host: str, port: int, token: str | None) -> str:
    shown = "localhost" if is_loopback(host) or host in ("0.0.0.0", "::") else host
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/" + (f"?token={token}" if token else "")


def run(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from xmem.gui.server import create_app
        from xmem.gui.workspace import Workspace
        from xmem.runtime.network_thread import NetworkThread
    except ImportError as exc:
        raise XMemError(
            f"the GUI needs the gui extra ({exc.name} is missing): pip install 'xmem[gui]'"
        ) from exc
    if not 0 < args.port < 65536:
        raise XMemError(f"--port must be 1..65535, got {args.port}")
    token = access_token(args.host, args.token)
    options = track_options(args)
    device = select_device(args.device)
    thread = NetworkThread()  # loads the model and runs every job: one OpenMP pool
    tracker = thread.call(lambda: load_tracker(args, device, options))
    workspace = Workspace(tracker, thread)
    if args.input is not None or args.project is not None:
        try:
            workspace.open(args.input, args.project)
        except XMemError:
            pass  # logged; the page shows it and offers to open another
    app = create_app(workspace, token)
    logger.info(
        "xmem gui: open %s in a browser (Ctrl+C stops)", page_url(args.host, args.port, token)
    )
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    finally:
        workspace.close()
    return 0

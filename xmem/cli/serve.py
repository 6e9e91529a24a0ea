"""``xmem serve``: the Supervisely tracking app under uvicorn."""

from __future__ import annotations

import argparse
import logging

from xmem.cli.options import (
    add_inference_options,
    load_tracker,
    option_errors,
    select_device,
    track_options,
)
from xmem.errors import XMemError
from xmem.integrations.supervisely.options import MIN_PART, ServeOptions
from xmem.model.weights import resolve_weights
from xmem.runtime.network_thread import NetworkThread

logger = logging.getLogger(__name__)

# ServeOptions' fields whose flag is not ``--`` + the field name
FLAGS = {"keyframes": "--ignore-person-figures", "references": "--person-references"}


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "serve",
        help="serve the Supervisely mask-tracking app (needs xmem[supervisely])",
        description="Start the Supervisely video-tracking app. The platform's address and token "
        "come from SERVER_ADDRESS and API_TOKEN (or the options below); requests may carry "
        "their own token.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--server-address", default=None, help="Supervisely URL (env SERVER_ADDRESS)")
    p.add_argument("--api-token", default=None, help="fallback API token (env API_TOKEN)")
    p.add_argument(
        "--max-concurrent",
        type=int,
        default=1,
        help="requests that may use the device at once (default 1)",
    )
    p.add_argument("--chunk", type=int, default=16, help="frames per bulk download (default 16)")
    p.add_argument(
        "--min-part",
        type=float,
        default=MIN_PART,
        help="drop connected parts of a tracked object smaller than this fraction of its "
        "largest part (specks); 0 keeps every part (default 0.05)",
    )
    p.add_argument(
        "--ignore-person-figures",
        action="store_true",
        help="do not give the tracker the figures a person drew or corrected on other frames "
        "of the tracked objects (by default they guide tracking and are never overwritten)",
    )
    p.add_argument(
        "--person-references",
        type=int,
        default=0,
        help="also read up to N frames before the source frame (in tracking order) that hold "
        "a person's figure of a tracked object, as extra memory (default 0)",
    )
    add_inference_options(p, precision_default=None)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    with option_errors(FLAGS):
        serve_options = ServeOptions(
            max_concurrent=args.max_concurrent,
            chunk=args.chunk,
            min_part=args.min_part,
            keyframes=not args.ignore_person_figures,
            references=args.person_references,
        )
    try:
        import uvicorn

        from xmem.integrations.supervisely import server
    except ImportError as e:
        raise XMemError(
            f"xmem serve needs the Supervisely SDK ({e.name} is missing): "
            "pip install 'xmem[supervisely]'"
        ) from e
    device = select_device(args.device)
    options = track_options(args, precision=server.default_precision(device))
    server.prepare_environment(args.server_address, args.api_token)
    network = NetworkThread()  # loads the model and computes every request's frames
    tracker = network.call(lambda: load_tracker(args, device, options))
    weights = resolve_weights(args.weights, download_missing=False)  # the file just loaded
    app = server.create_app(
        tracker,
        model_name=weights.stem,
        weights=str(weights),
        options=serve_options,
        network=network,
    )
    logger.info("serving on http://%s:%d", args.host, args.port)
    uvicorn.run(app.app, host=args.host, port=args.port, log_level="warning")
    return 0

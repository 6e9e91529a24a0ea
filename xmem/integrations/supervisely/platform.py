"""Calls back to the platform with bounded time: a per-call timeout, a retry budget, Stop.

The SDK's ``Api.post`` has no timeout (a stalled server blocks forever) and retries a 5xx ten
times with back-off from 1 s up to 60 s, about four minutes, during which nothing can stop it.
:class:`PlatformApi` is the same client with ``post`` replaced: every attempt has a
connect/read timeout, retries stop when the :class:`CallPolicy`'s attempts or seconds are spent,
the sleeps between retries end early on Stop (:class:`TrackingStopped`), and a call that keeps
failing raises :class:`PlatformUnavailable` with a message written for the annotator.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
from supervisely.api.api import Api
from supervisely.io.network_exceptions import RETRY_STATUS_CODES

logger = logging.getLogger(__name__)

# what the app was doing, in the annotator's words, by platform method
ACTIONS = {
    "videos.info": "read the video's details",
    "figures.info": "read the figure to track",
    "figures.list": "read the video's figures",
    "videos.bulk.download-frame": "download the video frames",
    "videos.download-frame": "download a video frame",
    "figures.bulk.add": "save the tracked figures",
    "videos.notify-annotation-tool": "report tracking progress",
    "annotation-tool.run-action": "report tracking progress",
}


@dataclass(frozen=True)
class CallPolicy:
    """Time limits of one platform call, its retries included.

    The defaults give up on a platform that keeps answering 5xx after 6 attempts (≈ 31 s of
    back-off), and on one that does not answer at all within ``budget`` seconds, so a failing
    call is reported in well under a minute.
    """

    connect_timeout: float = 5.0  # seconds to open a connection
    read_timeout: float = 20.0  # seconds of silence while waiting for the answer
    attempts: int = 6  # tries in all, the first one included
    backoff: float = 1.0  # first pause between tries; doubles each time
    max_pause: float = 16.0  # longest pause between tries
    budget: float = 45.0  # seconds one call may take, all tries and pauses together

    def pauses(self) -> list[float]:
        """The pauses before the 2nd, 3rd, … attempt."""
        return [min(self.backoff * 2**i, self.max_pause) for i in range(self.attempts - 1)]


class TrackingStopped(Exception):
    """The request was stopped while a platform call was waiting to be retried."""


class PlatformUnavailable(Exception):
    """A platform call kept failing: the message says what could not be done, for people."""

    title = "Tracking interrupted"  # the name the annotation tool shows before the message

    def __init__(self, method: str, attempts: int, seconds: float, reason: str) -> None:
        action = ACTIONS.get(method, f"call {method}")
        super().__init__(
            f"Could not {action}: the Supervisely server {reason} "
            f"({attempts} {'try' if attempts == 1 else 'tries'} in {seconds:.0f} s). "
            "Please try again when the server is reachable."
        )
        self.method = method
        self.reason = reason


def _reason(error: requests.RequestException) -> str:
    """Why one attempt failed, in words."""
    response = getattr(error, "response", None)
    if response is not None:
        return f"answered HTTP {response.status_code}"
    if isinstance(error, requests.Timeout):
        return "did not answer in time"
    return "could not be reached"


# supervisely ships no type information (no py.typed), so Api is Any to mypy
class PlatformApi(Api):  # type: ignore[misc]
    """``supervisely.Api`` whose calls are bounded by a :class:`CallPolicy` and by Stop."""

    policy: CallPolicy
    cancelled: Callable[[], bool]

    @classmethod
    def around(
        cls,
        api: Api,
        policy: CallPolicy | None = None,
        cancelled: Callable[[], bool] = lambda: False,
    ) -> PlatformApi:
        """A bounded client for the same server, token and headers as ``api``."""
        bounded = cls(api.server_address, api.token, ignore_task_id=True)
        bounded._api_server_address = api.api_server_address
        bounded.headers = dict(api.headers)
        bounded.additional_fields = dict(api.additional_fields)
        bounded.policy = policy or CallPolicy()
        bounded.cancelled = cancelled
        return bounded

    def post(
        self,
        method: str,
        data: Any,
        retries: int | None = None,
        stream: bool | None = False,
        raise_error: bool | None = False,
    ) -> requests.Response:
        if not self._skip_https_redirect_check:
            self._check_https_redirect()
        policy = self.policy
        url = f"{self.api_server_address}/v3/{method}"
        kwargs: dict[str, Any] = {"headers": self.headers, "stream": bool(stream)}
        if isinstance(data, dict):
            kwargs["json"] = {**data, **self.additional_fields}
        elif isinstance(data, bytes):
            kwargs["data"] = data
        else:
            kwargs["json"] = data
        start = time.monotonic()
        pauses = policy.pauses()
        attempt = 0
        while True:
            attempt += 1
            left = policy.budget - (time.monotonic() - start)
            timeout = (min(policy.connect_timeout, left), min(policy.read_timeout, left))
            try:
                response = requests.post(url, timeout=timeout, **kwargs)
                if response.status_code == requests.codes.ok:
                    return response
                Api._raise_for_status(response)
            except requests.RequestException as error:
                status = error.response.status_code if error.response is not None else None
                if status is not None and status not in RETRY_STATUS_CODES:
                    raise  # a 4xx the caller handles (e.g. 404 → None in *.info)
                reason = _reason(error)
                elapsed = time.monotonic() - start
                pause = pauses[attempt - 1] if attempt <= len(pauses) else None
                if raise_error or pause is None or elapsed + pause >= policy.budget:
                    logger.warning(
                        "%s failed %d times in %.1f s: %s", method, attempt, elapsed, reason
                    )
                    raise PlatformUnavailable(method, attempt, elapsed, reason) from error
                logger.info("%s: the server %s; retry %d in %.1f s", method, reason, attempt, pause)
                self._pause(pause)

    def _pause(self, seconds: float) -> None:
        """Sleep between tries, ending early (TrackingStopped) when the request is stopped."""
        end = time.monotonic() + seconds
        while True:
            if self.cancelled():
                raise TrackingStopped("stopped while waiting for the server")
            left = end - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(0.05, left))

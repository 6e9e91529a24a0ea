"""XMem mask tracking for Supervisely's video annotation tool (``pip install xmem[supervisely]``).

The app (:mod:`.app`) is a thin adapter over the package: requests are parsed and checked
(:mod:`.protocol`), frames streamed in chunks (:mod:`.frames`), tracked by one ``xmem.track``
generator per request (:mod:`.session`), and each frame's figures uploaded or queued as they are
computed with monotone, throttled progress (:mod:`.publish`). :mod:`.emulator` is a loopback
emulator of the platform's API for tests and benchmarks; it does not need the SDK.
"""

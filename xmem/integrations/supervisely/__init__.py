"""XMem mask tracking for Supervisely's video annotation tool (``pip install xmem[supervisely]``).

The app (:mod:`.app`) is a thin adapter over the package: requests are parsed and checked
(:mod:`.protocol`), frames streamed in chunks (:mod:`.frames`), tracked by one ``xmem.track``
generator per request (:mod:`.session`) with the device shared first come, first served
(:mod:`.device`) and the figures a person made on other frames as guidance (:mod:`.keyframes`),
and each frame's figures uploaded or queued as they are computed with monotone, throttled
progress (:mod:`.publish`). Every call back to the platform has a timeout, a retry budget and
honours Stop (:mod:`.platform`). The platform emulator used by the tests is test support, in
``tests/sly_platform/``; it is not installed.
"""

"""XMem mask tracking for Supervisely's video annotation tool (``pip install xmem[supervisely]``).

The app (:mod:`.app`) is a thin adapter over the package: its routes (:mod:`.routes`, one table
of JSON endpoints) hand each request to a parser of its format (:mod:`.protocol`, built on the
field checks of :mod:`.fields`) that makes a checked job; frames are streamed in chunks
(:mod:`.frames`), tracked by one ``xmem.track`` generator per request (:mod:`.session`) with the
device shared first come, first served (:mod:`.device`) and the figures a person made on other
frames as guidance (:mod:`.keyframes`); figures and masks convert in :mod:`.geometry`; each
frame's figures are uploaded or queued as they are computed with monotone, throttled progress
(:mod:`.publish`). Every call back to the platform has a timeout, a retry budget and honours
Stop (:mod:`.platform`). :mod:`.server` starts the app. The platform emulator used by the tests
is test support, in ``tests/sly_platform/``; it is not installed.
"""

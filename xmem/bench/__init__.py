"""The speed benchmark (``xmem benchmark``): frames per second, time per stage and memory.

- :mod:`~xmem.bench.measure`: the run (a synthetic video tracked frame by frame, timed);
- :mod:`~xmem.bench.records`: its per-frame records, the result and its JSON file;
- :mod:`~xmem.bench.stats`: the summary statistics;
- :mod:`~xmem.bench.compare`: two runs side by side (A/B);
- :mod:`~xmem.bench.format`: the results as text; :mod:`~xmem.bench.plot`: as a figure.
"""

from xmem.bench.compare import compare, mask_agreement
from xmem.bench.format import format_comparison, format_summary
from xmem.bench.measure import run_benchmark
from xmem.bench.records import MAIN_STAGES, OTHER, BenchmarkResult, FrameRecord, write_json
from xmem.bench.stats import summarise

__all__ = [
    "MAIN_STAGES",
    "OTHER",
    "BenchmarkResult",
    "FrameRecord",
    "compare",
    "format_comparison",
    "format_summary",
    "mask_agreement",
    "run_benchmark",
    "summarise",
    "write_json",
]

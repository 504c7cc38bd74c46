"""Where grading spends its time: seconds per named step, summed into a dict (a SubmissionResult's `timings`),
so that benchmarks/grade_throughput.py can show where each submission's time goes."""
from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def timed(timings: dict[str, float], step: str) -> Iterator[None]:
    """Add the seconds the block takes to timings[step] (a step run twice, as on a retry, counts twice)."""
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[step] = timings.get(step, 0.0) + time.perf_counter() - start

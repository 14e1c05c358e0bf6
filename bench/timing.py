"""Timing helpers: medians over repeats, so one noisy moment on a shared machine moves nothing."""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np


def interleaved(
    fns: dict[str, Callable[[], object]], number: int, repeat: int, warmup: int = 3
) -> dict:
    """Seconds per call for each fn: median, p10, p90 over `repeat` samples of `number` calls.

    The functions take turns sample by sample, so a slow phase of a shared machine hits all
    of them alike and their ratios stay meaningful.
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            for _ in range(number):
                fn()
            samples[name].append((time.perf_counter() - t0) / number)
    out = {}
    for name, values in samples.items():
        s = np.asarray(values)
        out[name] = {
            "median_s": float(np.median(s)),
            "p10_s": float(np.percentile(s, 10)),
            "p90_s": float(np.percentile(s, 90)),
            "repeat": repeat,
            "number": number,
        }
    return out


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
    }


def fmt_time(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.2f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.3f} ms"
    return f"{seconds:.3f} s"

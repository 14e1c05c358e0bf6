"""Timing helpers: medians over repeats, so one noisy moment on a shared machine moves nothing."""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from datetime import datetime, timezone

import numpy as np


def per_call_s(fn: Callable[[], object], number: int, repeat: int, warmup: int = 3) -> dict:
    """Median (and p10/p90) seconds per call of fn, each sample averaging `number` calls."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        samples.append((time.perf_counter() - t0) / number)
    s = np.asarray(samples)
    return {
        "median_s": float(np.median(s)),
        "p10_s": float(np.percentile(s, 10)),
        "p90_s": float(np.percentile(s, 90)),
        "repeat": repeat,
        "number": number,
    }


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
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
    }


def fmt_time(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.2f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.3f} ms"
    return f"{seconds:.3f} s"

"""The budget monitor: every `report_s` a "system" event through the daemon's bus.

It carries the process's RSS and CPU share of one core over the interval, each pipeline's model
p99 latency, and, against the device profile's budgets (model p50/p99 per modality, this host's
timings scaled to the target by the profile's factor through `edge.runtime.budget`, and not
judged where it gives none; RSS against the sum of the configured modalities' allowances),
`over_budget` naming what broke and `ok`. A reload's new profile is picked up at the next report.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from edge.events import AffectEvent
from edge.runtime.budget import runtime_checks
from edge.runtime.memory import cpu_seconds, rss_bytes


class BudgetMonitor:
    """The "system" reports of one daemon (its config, workers and bus, read at each report)."""

    def __init__(self, daemon: Any) -> None:
        self.daemon = daemon
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="system-report", daemon=True)
        self._thread.start()

    def close(self, timeout_s: float = 2.0) -> None:
        self._stop.set()
        self._thread.join(timeout_s)

    def _run(self) -> None:
        from devices.profile import load_profile
        from edge import __version__

        profile, profile_name = None, None
        seq = 0
        last_t = time.monotonic()
        last_cpu = cpu_seconds()
        while not self._stop.wait(self.daemon.config.report_s or 3600):
            if not self.daemon.config.report_s:
                continue
            if self.daemon.config.profile != profile_name:  # the profile a reload brought
                profile_name = self.daemon.config.profile
                profile = load_profile(profile_name) if profile_name else None
            now = time.monotonic()
            cpu = cpu_seconds()
            rss = rss_bytes()
            values = {
                "rss_mb": round(rss / 2**20, 2),
                "cpu_share": round((cpu - last_cpu) / max(now - last_t, 1e-9), 4),
            }
            over = []
            rss_budget = 0
            for w in self.daemon.workers:
                name = w.config.name
                latency = w.snapshot().get("pipeline", {}).get("model_latency", {})
                if latency.get("p99_ms") is not None:
                    values[f"{name}_model_p99_ms"] = round(latency["p99_ms"], 3)
                budget = profile.budget(name) if profile else None
                if budget is None:
                    continue
                # Host latency scaled to the target where the profile gives the factor; a
                # profile without one (an MCU) is not judged on this machine's timings.
                for check in runtime_checks(name, latency, None, profile):
                    if not check.ok:
                        over.append(f"{name}.{check.budget.removesuffix('_ms')}")
                rss_budget += budget.rss_bytes or 0
            if rss_budget and rss > rss_budget:
                over.append("rss")
            event = AffectEvent(
                modality="system",
                source=self.daemon.config.path,
                model="affect-edge",
                model_version=__version__,
                start_s=round(last_t - self.daemon.started, 3),
                end_s=round(now - self.daemon.started, 3),
                values=values,
                updated=True,
                quality={"ok": not over, "over_budget": over},
                latency_ms={"total": 0.0},
                seq=seq,
            )
            self.daemon.bus.publish(event)
            seq += 1
            last_t, last_cpu = now, cpu

"""Budget checks: a bundle, and the figures measured while running it, against a device profile.

Every check is a `Check`: a figure, its value, its limit and the basis of the value (declared,
estimated from MACs at the profile's compute rate, measured here, measured here and scaled by
the profile's factor). Reports show them all, passed or not, so a verdict never hides what it
rests on.

At load: the model file's bytes against the modality's budget and against the device's whole
memory; the latency its declared MACs imply at the profile's compute rate; and the share of one
core the model takes at its update rate (MACs per second / MAC/s per core). At run time: the
measured p50/p99 latency (scaled to the target only where the profile gives a factor; on another
architecture without one it is not checked, and the MAC estimate stands) and the process RSS.
"""

from __future__ import annotations

import logging
import platform
from dataclasses import dataclass

from devices.profile import Profile
from edge.errors import BudgetError
from edge.runtime.manifest import Manifest, ModelFile
from edge.runtime.specs import EegSpec, LogMelSpec

log = logging.getLogger(__name__)
#: Video frames per second assumed for a face model when the profile names no camera.
DEFAULT_FPS = 15.0


@dataclass(frozen=True)
class Check:
    budget: str
    value: float
    limit: float | None
    unit: str
    basis: str

    @property
    def ok(self) -> bool:
        return self.limit is None or self.value <= self.limit

    def fmt(self, x: float) -> str:
        if self.unit == "bytes":
            return f"{int(x):,}"
        if self.unit == "of one core":
            return f"{100 * x:.2f}%"
        return f"{x:.3f}"

    def __str__(self) -> str:
        limit = (
            ""
            if self.limit is None
            else f" exceeds the limit of {self.fmt(self.limit)} {self.unit}"
        )
        unit = "" if self.unit == "of one core" else f" {self.unit}"
        if self.ok and self.limit is not None:
            limit = f" within {self.fmt(self.limit)}{unit}"
        return f"{self.budget}: {self.fmt(self.value)}{unit}{limit} ({self.basis})"


#: A failed check; the name kept for callers that only deal in violations.
Violation = Check


def on_target(profile: Profile) -> bool:
    machine = platform.machine().lower()
    return machine == profile.arch.lower() or (machine == "amd64" and profile.arch == "x86_64")


def calls_per_s(manifest: Manifest, profile: Profile) -> float | None:
    """How often the device runs the model: speech every update_s, EEG every hop, faces per frame."""
    fe = manifest.front_end
    if isinstance(fe, LogMelSpec):
        return 1.0 / fe.update_s
    if isinstance(fe, EegSpec):
        return 1.0 / fe.hop_s
    if manifest.modality == "face":
        camera = profile.sensor("camera")
        return camera.rate_hz if camera else DEFAULT_FPS
    return None


def load_checks(manifest: Manifest, model: ModelFile, profile: Profile) -> list[Check]:
    """Everything knowable before running, passed or not."""
    budget = profile.budget(manifest.modality)
    kind = "estimate" if profile.compute.estimate else "measured rate"
    out = [
        Check(
            "memory_bytes",
            model.size_bytes,
            profile.memory_bytes,
            "bytes",
            f"{model.file} against the device's whole memory",
        )
    ]
    if budget is not None and budget.model_bytes is not None:
        out.append(
            Check(
                "model_bytes",
                model.size_bytes,
                budget.model_bytes,
                "bytes",
                f"{model.file}, declared and verified",
            )
        )
    if manifest.macs:
        implied_ms = manifest.macs / profile.compute.macs_per_s * 1e3
        out.append(
            Check(
                "latency_p99_ms",
                implied_ms,
                budget.latency_p99_ms if budget else None,
                "ms",
                f"{kind}: {manifest.macs:,} declared MACs at {profile.compute.macs_per_s:.3g} MAC/s",
            )
        )
        rate = calls_per_s(manifest, profile)
        if rate is not None:
            out.append(
                Check(
                    "cpu_share",
                    manifest.macs * rate / profile.compute.macs_per_s,
                    1.0,
                    "of one core",
                    f"{kind}: {manifest.macs * rate:,.0f} MACs per second at {rate:g} calls/s",
                )
            )
    return out


def check_load(manifest: Manifest, model: ModelFile, profile: Profile) -> list[Check]:
    """The load-time checks that fail."""
    return [c for c in load_checks(manifest, model, profile) if not c.ok]


def latency_scale(profile: Profile) -> tuple[float | None, str]:
    """Factor from latency measured here to the profile's target, and how it is known."""
    if on_target(profile):
        return 1.0, f"measured on this {platform.machine()} machine"
    if profile.compute.host_latency_scale is None:
        return None, (
            f"not checked: the profile gives no factor from {platform.machine()} to {profile.arch}"
        )
    return profile.compute.host_latency_scale, (
        f"measured here x {profile.compute.host_latency_scale:g} ({profile.compute.host_latency_scale_source})"
    )


@dataclass(frozen=True)
class Verdict:
    """A measured latency figure judged against a profile's budget: `check` is None when it is
    not judged (the profile sets no limit, nothing was measured, or the profile gives no factor
    from this host to its target); `basis` says how the value was scaled or why it was not."""

    limit: float | None
    check: Check | None
    basis: str

    @property
    def ok(self) -> bool | None:
        return None if self.check is None else self.check.ok

    @property
    def word(self) -> str:
        """'ok', 'OVER', 'not judged here' (a limit but no scaled figure) or '-' (no limit)."""
        if self.check is not None:
            return "ok" if self.check.ok else "OVER"
        return "-" if self.limit is None else "not judged here"


def verdict(
    modality: str, latency: dict[str, float], profile: Profile | None, figure: str = "p99_ms"
) -> Verdict:
    """The one latency verdict: `latency[figure]` (a `LatencyStats.summary()` measured on this
    host) scaled by the profile's factor to its target, against the modality's budget. The
    daemon's system events, bench, status and the demo all judge through it."""
    budget = profile.budget(modality) if profile is not None else None
    limit = getattr(budget, f"latency_{figure}", None) if budget is not None else None
    if limit is None:
        return Verdict(None, None, "the profile sets no limit")
    scale, basis = latency_scale(profile)
    if scale is None or not latency.get("count") or latency.get(figure) is None:
        return Verdict(limit, None, basis if scale is None else "nothing measured")
    return Verdict(
        limit, Check(f"latency_{figure}", latency[figure] * scale, limit, "ms", basis), basis
    )


def runtime_checks(
    modality: str, latency: dict[str, float], rss_bytes: int | None, profile: Profile
) -> list[Check]:
    """Measured figures (a `LatencyStats.summary()` and the RSS) against the profile's budget."""
    budget = profile.budget(modality)
    if budget is None:
        return []
    out = []
    for figure in ("p99_ms", "p50_ms"):
        judged = verdict(modality, latency, profile, figure).check
        if judged is not None:
            out.append(judged)
    if rss_bytes is not None and budget.rss_bytes is not None:
        basis = "measured resident set size"
        if not on_target(profile):
            basis += f" on this {platform.machine()} host, indicative for {profile.arch}"
        out.append(Check("rss_bytes", rss_bytes, budget.rss_bytes, "bytes", basis))
    return out


def check_runtime(
    modality: str, latency: dict[str, float], rss_bytes: int | None, profile: Profile
) -> list[Check]:
    """The run-time checks that fail."""
    return [c for c in runtime_checks(modality, latency, rss_bytes, profile) if not c.ok]


def enforce(violations: list[Check], profile: Profile, allow_over_budget: bool = False) -> None:
    """Raise `BudgetError` listing every violation, or log them loudly when allowed."""
    if not violations:
        return
    text = "; ".join(str(v) for v in violations)
    if not allow_over_budget:
        raise BudgetError(
            f"over the budget of device profile {profile.name!r}: {text}. "
            "Use a smaller model or another profile, or allow it explicitly (--allow-over-budget)."
        )
    log.warning("RUNNING OVER BUDGET of %s (allowed): %s", profile.name, text)

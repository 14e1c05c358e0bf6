"""Budget checks: a bundle, and the figures measured while running it, against a device profile.

At load: the model file's bytes, and the latency its declared MACs imply at the profile's
compute rate. At run time: measured p50/p99 latency (scaled from this host to the target only
where the profile gives a factor, and then reported as an estimate) and the process RSS.
A violation names the budget, the value and the limit; `enforce` turns violations into a
`BudgetError` unless the caller allows running over budget.
"""

from __future__ import annotations

import logging
import platform
from dataclasses import dataclass

from devices.profile import Profile
from edge.errors import BudgetError
from edge.runtime.manifest import Manifest, ModelFile

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Violation:
    budget: str
    value: float
    limit: float
    unit: str
    basis: str

    def __str__(self) -> str:
        def fmt(x: float) -> str:
            return f"{int(x):,}" if self.unit == "bytes" else f"{x:.3f}"

        return f"{self.budget}: {fmt(self.value)} {self.unit} exceeds the limit of {fmt(self.limit)} {self.unit} ({self.basis})"


def _on_target(profile: Profile) -> bool:
    machine = platform.machine().lower()
    return machine == profile.arch.lower() or (machine == "amd64" and profile.arch == "x86_64")


def check_load(manifest: Manifest, model: ModelFile, profile: Profile) -> list[Violation]:
    """What can be known before running: model bytes and the latency the declared MACs imply."""
    budget = profile.budget(manifest.modality)
    if budget is None:
        return []
    out = []
    if budget.model_bytes is not None and model.size_bytes > budget.model_bytes:
        out.append(
            Violation(
                "model_bytes",
                model.size_bytes,
                budget.model_bytes,
                "bytes",
                f"{model.file}, declared and verified",
            )
        )
    if budget.latency_p99_ms is not None and manifest.macs:
        implied_ms = manifest.macs / profile.compute.macs_per_s * 1e3
        if implied_ms > budget.latency_p99_ms:
            kind = "estimate" if profile.compute.estimate else "measured rate"
            out.append(
                Violation(
                    "latency_p99_ms",
                    implied_ms,
                    budget.latency_p99_ms,
                    "ms",
                    f"{manifest.macs:,} declared MACs at {profile.compute.macs_per_s:.3g} MAC/s ({kind})",
                )
            )
    return out


def latency_scale(profile: Profile) -> tuple[float | None, str]:
    """Factor from latency measured here to the profile's target, and how it is known."""
    if _on_target(profile):
        return 1.0, f"measured on this {platform.machine()} machine"
    if profile.compute.host_latency_scale is None:
        return (
            None,
            f"profile gives no factor from {platform.machine()} to {profile.arch}; latency not checked",
        )
    return profile.compute.host_latency_scale, (
        f"measured here x {profile.compute.host_latency_scale:g} ({profile.compute.host_latency_scale_source})"
    )


def check_runtime(
    modality: str, latency: dict[str, float], rss_bytes: int | None, profile: Profile
) -> list[Violation]:
    """Measured figures (a `LatencyStats.summary()` and the RSS) against the profile's budget."""
    budget = profile.budget(modality)
    if budget is None:
        return []
    out = []
    scale, basis = latency_scale(profile)
    if scale is not None and latency.get("count"):
        for key, limit in (("p99_ms", budget.latency_p99_ms), ("p50_ms", budget.latency_p50_ms)):
            if limit is not None and latency[key] * scale > limit:
                out.append(Violation(f"latency_{key}", latency[key] * scale, limit, "ms", basis))
    if rss_bytes is not None and budget.rss_bytes is not None and rss_bytes > budget.rss_bytes:
        basis = "measured resident set size"
        if not _on_target(profile):
            basis += f" on this {platform.machine()} host, indicative for {profile.arch}"
        out.append(Violation("rss_bytes", rss_bytes, budget.rss_bytes, "bytes", basis))
    return out


def enforce(violations: list[Violation], profile: Profile, allow_over_budget: bool = False) -> None:
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

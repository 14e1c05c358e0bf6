"""Budget checks trip at the right values, at load and at run time."""

from __future__ import annotations

import platform
from dataclasses import replace

import pytest

from devices.profile import Budget, load_profile
from edge.errors import BudgetError
from edge.runtime.budget import check_load, check_runtime, enforce
from tests.bundles import dense_bundle

pytestmark = pytest.mark.device


@pytest.fixture
def x86_build_host(monkeypatch):
    """These figures are judged as from the x86-64 build host, whatever runs the test: on an arm64
    machine the Pi profiles are the machine itself (measured, not scaled; make arm64-check)."""
    monkeypatch.setattr(platform, "machine", lambda: "x86_64")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return dense_bundle(tmp_path_factory.mktemp("b") / "b", sizes=(64, 128, 3), int8=False)[0]


def with_budget(name: str, **limits) -> object:
    profile = load_profile(name)
    return replace(profile, budgets={"speech": Budget(**limits)})


def test_model_bytes_trip_exactly_at_the_limit(bundle) -> None:
    model = bundle.manifest.model("onnx")
    assert (
        check_load(bundle.manifest, model, with_budget("x86-host", model_bytes=model.size_bytes))
        == []
    )
    (v,) = check_load(
        bundle.manifest, model, with_budget("x86-host", model_bytes=model.size_bytes - 1)
    )
    assert (v.budget, v.value, v.limit) == ("model_bytes", model.size_bytes, model.size_bytes - 1)
    assert str(v).startswith(
        f"model_bytes: {model.size_bytes:,} bytes exceeds the limit of {model.size_bytes - 1:,}"
    )


def test_declared_macs_against_the_profile_compute_rate(bundle) -> None:
    macs = bundle.manifest.macs
    profile = with_budget("hearing-aid-coprocessor", latency_p99_ms=1.0)
    implied_ms = macs / profile.compute.macs_per_s * 1e3
    assert check_load(bundle.manifest, bundle.manifest.model("onnx"), profile) == []
    tight = replace(profile, budgets={"speech": Budget(latency_p99_ms=implied_ms * 0.99)})
    (v,) = check_load(bundle.manifest, bundle.manifest.model("onnx"), tight)
    assert v.budget == "latency_p99_ms" and v.value == pytest.approx(implied_ms)
    assert "estimate" in v.basis


def test_runtime_latency_is_scaled_only_where_the_profile_says_how(x86_build_host) -> None:
    latency = {"count": 100, "p50_ms": 1.0, "p99_ms": 2.0}
    host = with_budget("x86-host", latency_p99_ms=2.5)
    assert check_runtime("speech", latency, None, host) == []
    pi4 = with_budget("raspberry-pi-4", latency_p99_ms=15.0)  # factor 10: 2 ms here ~ 20 ms there
    (v,) = check_runtime("speech", latency, None, pi4)
    assert v.value == pytest.approx(20.0) and "estimate" in v.basis
    mcu = with_budget("hearing-aid-coprocessor", latency_p99_ms=0.001)
    assert (
        check_runtime("speech", latency, None, mcu) == []
    )  # no factor: x86 timings say nothing there


def test_rss_and_p50_limits() -> None:
    profile = with_budget("x86-host", latency_p50_ms=0.5, rss_bytes=100)
    found = {
        v.budget
        for v in check_runtime("speech", {"count": 5, "p50_ms": 1.0, "p99_ms": 1.0}, 101, profile)
    }
    assert found == {"latency_p50_ms", "rss_bytes"}
    assert check_runtime("face", {"count": 5, "p50_ms": 1.0, "p99_ms": 1.0}, 101, profile) == []


def test_enforce_refuses_unless_allowed(bundle, caplog) -> None:
    profile = with_budget("x86-host", model_bytes=10)
    violations = check_load(bundle.manifest, bundle.manifest.model("onnx"), profile)
    with pytest.raises(
        BudgetError,
        match=r"over the budget of device profile 'x86-host': model_bytes: [\d,]+ bytes exceeds the limit of 10 bytes",
    ):
        enforce(violations, profile)
    enforce(violations, profile, allow_over_budget=True)
    assert "RUNNING OVER BUDGET" in caplog.text
    enforce([], profile)


def test_one_verdict_scales_by_the_profile_everywhere(x86_build_host) -> None:
    from edge.runtime.budget import verdict

    lat = {"count": 50, "p50_ms": 1.0, "p99_ms": 3.0}
    pi4 = load_profile("raspberry-pi-4")  # speech p99 20 ms, x10 from this host
    judged = verdict("speech", lat, pi4)
    assert judged.limit == 20.0 and judged.check.value == 30.0 and judged.ok is False
    assert judged.word == "OVER" and "x 10" in judged.basis
    host = load_profile("x86-host")  # this host: no scaling
    assert verdict("speech", lat, host).check.value == 3.0 and verdict("speech", lat, host).ok
    mcu = load_profile("hearing-aid-coprocessor")  # no factor from x86-64 to the MCU
    assert verdict("speech", lat, mcu).check is None
    assert verdict("speech", lat, mcu).word == "not judged here"
    assert verdict("face", lat, load_profile("muse-2")).word == "-"  # no face budget
    assert verdict("speech", {"count": 0}, pi4).ok is None
    # The run-time checks (daemon, bench) are the verdict's checks.
    assert check_runtime("speech", lat, None, pi4) == [judged.check]


def test_on_an_arm64_machine_a_pi_profile_is_measured_not_scaled(monkeypatch) -> None:
    from edge.runtime.budget import verdict

    monkeypatch.setattr(platform, "machine", lambda: "aarch64")
    judged = verdict(
        "speech", {"count": 50, "p50_ms": 1.0, "p99_ms": 3.0}, load_profile("raspberry-pi-4")
    )
    assert judged.check.value == 3.0 and judged.ok and "measured on this aarch64" in judged.basis

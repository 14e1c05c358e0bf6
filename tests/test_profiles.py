"""Device profiles: the eight shipped targets parse, say where their figures come from, and bad files fail clearly."""

from __future__ import annotations

from pathlib import Path

import pytest

from devices.profile import electrodes, list_profiles, load_profile
from edge.errors import ConfigError

pytestmark = pytest.mark.device

TARGETS = [
    "emotiv-14",
    "hearing-aid-coprocessor",
    "jetson-orin-nano",
    "muse-2",
    "openbci-cyton",
    "raspberry-pi-4",
    "raspberry-pi-5",
    "x86-host",
]


def test_all_eight_targets_are_shipped_and_valid() -> None:
    assert list_profiles() == TARGETS
    for name in TARGETS:
        p = load_profile(name)
        assert p.name == name
        assert p.budgets, name
        assert p.sensors, name
        # Every compute figure is either measured or marked as an estimate, with its source.
        assert p.compute.source
        assert p.compute.estimate or "measured" in p.compute.source
        text = Path(p.path).read_text()
        assert "estimate" in text or "http" in text


def test_sensor_layouts_match_the_hardware() -> None:
    muse = load_profile("muse-2").sensor("eeg")
    assert (muse.rate_hz, muse.channels, muse.board) == (
        256,
        ("TP9", "AF7", "AF8", "TP10"),
        "MUSE_2_BOARD",
    )
    cyton = load_profile("openbci-cyton").sensor("eeg")
    assert (cyton.rate_hz, len(cyton.channels)) == (250, 8)
    emotiv = load_profile("emotiv-14").sensor("eeg")
    assert emotiv.rate_hz == 128 and emotiv.channels[0] == "AF3" and len(emotiv.channels) == 14
    hearing = load_profile("hearing-aid-coprocessor")
    assert hearing.budget("speech").model_bytes == 65_536
    assert hearing.compute.host_latency_scale is None


def test_unknown_name_and_bad_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown device profile 'toaster'; shipped: emotiv-14"):
        load_profile("toaster")
    bad = tmp_path / "bad.toml"
    bad.write_text("name = [unclosed")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_profile(bad)
    good = Path(load_profile("x86-host").path).read_text()
    bad.write_text(good.replace('preferred_engine = "onnx"', 'preferred_engine = "tensorrt"'))
    with pytest.raises(ConfigError, match="preferred_engine 'tensorrt'"):
        load_profile(bad)
    bad.write_text(good.replace("latency_p99_ms = 5.0", "latency_p99_ms = -5.0"))
    with pytest.raises(
        ConfigError, match=r"budgets.speech.latency_p99_ms must be a positive number"
    ):
        load_profile(bad)
    bad.write_text(good.replace("cores = 2", 'cores = "two"'))
    with pytest.raises(ConfigError, match="'cores' has the wrong type"):
        load_profile(bad)


def test_a_headsets_electrodes_come_from_its_profile() -> None:
    from edge.runtime import load_bundle
    from edge.runtime.registry import find_bundle

    emotiv = electrodes("emotiv-14")
    assert emotiv[:4] == ("AF3", "F7", "F3", "FC5") and len(emotiv) == 14
    # The default EEG bundle was trained on DREAMER's layout: the profile's, in its order.
    assert tuple(load_bundle(find_bundle("eeg-valence")).manifest.front_end.channels) == emotiv
    assert electrodes("muse-2") == ("TP9", "AF7", "AF8", "TP10")
    with pytest.raises(ConfigError, match="device profile 'x86-host' has no EEG sensor"):
        electrodes("x86-host")

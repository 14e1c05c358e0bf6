"""The systemd unit in contrib/ is hardened: every directive the service review asked for is set,
and `systemd-analyze security` (offline, where systemd is installed) rates its exposure low."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[1] / "contrib" / "affect-edge.service"


def directives() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith(("#", ";", "[")):
            key, value = line.split("=", 1)
            out.setdefault(key.strip(), []).append(value.strip())
    return out


def test_the_unit_sets_every_hardening_directive():
    d = directives()
    for key, value in {
        "ProtectClock": "yes",
        "ProtectKernelLogs": "yes",
        "ProtectHostname": "yes",
        "RestrictNamespaces": "yes",
        "RestrictRealtime": "yes",
        "ProtectProc": "invisible",
        "UMask": "0027",
        "IPAddressDeny": "any",
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "Restart": "on-failure",
        "Environment": "ORT_DISABLE_TELEMETRY=1",
    }.items():
        assert value in d.get(key, []), (key, d.get(key))
    assert d["IPAddressAllow"] and d["MemoryMax"] and d["TasksMax"]
    assert int(d["TasksMax"][0]) >= 32  # 15 threads measured with three modalities and MQTT


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is absent")
def test_systemd_analyze_rates_the_exposure_low(tmp_path):
    unit = tmp_path / UNIT.name
    unit.write_text(UNIT.read_text())
    out = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", "--no-pager", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    found = re.search(r"Overall exposure level for \S+: ([0-9.]+)", out.stdout)
    if found is None:
        pytest.skip(f"this systemd-analyze cannot rate a unit offline: {out.stderr[-300:]}")
    assert float(found.group(1)) <= 2.0, out.stdout[-3000:]  # 3.5 before the hardening

"""CLI: models list/inspect/verify, bench against profiles, profiles list/show; on real bundles."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from edge.cli.main import main
from tests.bundles import dense_bundle

pytestmark = pytest.mark.device


@pytest.fixture(scope="module")
def bundle_path(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "dense"
    dense_bundle(path, sizes=(32, 64, 3))
    return path


def run_json(capsys, *argv: str) -> tuple[int, dict]:
    code = main([*argv, "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_verify_passes_and_compares_both_engines(bundle_path, capsys) -> None:
    code, report = run_json(capsys, "models", "verify", str(bundle_path))
    assert code == 0 and report["ok"]
    assert {m["status"] for m in report["models"]} == {"ok"}
    pairs = {(c["a"], c["b"]) for c in report["comparisons"]}
    assert pairs == {("model.onnx", "model.tflite"), ("model_int8.onnx", "model_int8.tflite")}
    fp32 = next(c for c in report["comparisons"] if c["a"] == "model.onnx")
    assert fp32["max_abs_diff"] < 1e-4


def test_verify_fails_on_a_corrupt_bundle(tmp_path, capsys) -> None:
    dense_bundle(tmp_path / "b", int8=False)
    data = bytearray((tmp_path / "b" / "model.onnx").read_bytes())
    data[-5] ^= 1
    (tmp_path / "b" / "model.onnx").write_bytes(bytes(data))
    assert main(["models", "verify", str(tmp_path / "b")]) == 2
    assert "corrupt" in capsys.readouterr().err


def test_inspect_and_list(bundle_path, capsys, monkeypatch) -> None:
    code, manifest = run_json(capsys, "models", "inspect", str(bundle_path))
    assert code == 0 and manifest["name"] == "dense-test" and len(manifest["models"]) == 4
    assert main(["models", "inspect", str(bundle_path)]) == 0
    assert "model_int8.tflite" in capsys.readouterr().out
    monkeypatch.setenv("AFFECT_EDGE_MODELS", str(bundle_path.parent))
    code, listing = run_json(capsys, "models", "list")
    # The shipped bundles first, then the folder named by $AFFECT_EDGE_MODELS.
    names = [b["name"] for b in listing["bundles"]]
    assert names == [
        "eeg-valence",
        "eeg-valence-cyton8",
        "eeg-valence-muse4",
        "face-detect",
        "face-expr",
        "speech-adv",
        "dense-test",
    ]


@pytest.mark.parametrize("engine", ["onnx", "tflite"])
def test_bench_within_budget_on_both_engines(bundle_path, engine) -> None:
    # A process of its own: RSS is a per-process budget, and this test process may hold torch.
    argv = [
        "bench",
        str(bundle_path),
        "--engine",
        engine,
        "--profile",
        "x86-host",
        "--runs",
        "30",
        "--json",
    ]
    done = subprocess.run(
        [sys.executable, "-m", "edge.cli.main", *argv], capture_output=True, text=True
    )
    code, report = done.returncode, json.loads(done.stdout)
    assert code == 0 and report["ok"] and report["engine"] == f"{engine}/int8"
    assert report["latency"]["count"] == 30 * 5 and report["latency"]["rounds"] == 5
    assert 0 < report["latency"]["p50_ms"] <= report["latency"]["p99_ms"]
    assert report["rss_bytes"] > 10_000_000
    assert report["model_bytes"] == next(
        m["size_bytes"]
        for m in json.loads((bundle_path / "manifest.json").read_text())["models"]
        if m["file"] == f"model_int8.{'onnx' if engine == 'onnx' else 'tflite'}"
    )


def tight_profile(tmp_path: Path, **budget) -> Path:
    lines = "\n".join(f"{k} = {v}" for k, v in budget.items())
    text = Path(__file__).parents[1].joinpath("devices/profiles/x86-host.toml").read_text()
    text = text.split("[budgets.speech]")[0] + "[budgets.speech]\n" + lines + "\n"
    path = tmp_path / "tight.toml"
    path.write_text(text)
    return path


def test_over_budget_model_is_refused_at_load(bundle_path, tmp_path, capsys) -> None:
    profile = tight_profile(tmp_path, model_bytes=1000)
    code, report = run_json(
        capsys, "bench", str(bundle_path), "--profile", str(profile), "--runs", "5"
    )
    assert code == 3 and not report["measured"] and not report["ok"]
    assert (
        report["violations"][0].startswith("model_bytes")
        and "exceeds the limit of 1,000 bytes" in report["violations"][0]
    )
    assert main(["bench", str(bundle_path), "--profile", str(profile), "--runs", "5"]) == 3
    out = capsys.readouterr().out
    assert "OVER BUDGET: model_bytes" in out and "--allow-over-budget measures anyway" in out
    # Allowed: measured anyway, and still exit 3 (one rule: a broken budget is exit 3).
    code, report = run_json(
        capsys,
        "bench",
        str(bundle_path),
        "--profile",
        str(profile),
        "--runs",
        "5",
        "--allow-over-budget",
    )
    assert code == 3 and report["measured"] and not report["ok"]


def test_over_budget_latency_exits_3(bundle_path, tmp_path, capsys) -> None:
    # 2,240 declared MACs imply 5e-5 ms at the host rate (passes at load); no real call takes 1 us.
    profile = tight_profile(tmp_path, latency_p99_ms=0.001)
    code, report = run_json(
        capsys, "bench", str(bundle_path), "--profile", str(profile), "--runs", "5"
    )
    assert code == 3 and report["violations"][0].startswith("latency_p99_ms")


def test_profiles_list_and_show(capsys) -> None:
    assert main(["profiles", "list"]) == 0
    out = capsys.readouterr().out
    assert "raspberry-pi-4" in out and "hearing-aid-coprocessor" in out
    code, profile = run_json(capsys, "profiles", "show", "muse-2")
    assert code == 0 and profile["sensors"][0]["channels"] == ["TP9", "AF7", "AF8", "TP10"]
    assert main(["profiles", "show", "toaster"]) == 2


def test_profiles_show_says_arm64_was_checked_under_emulation_and_latency_is_scaled(capsys) -> None:
    assert main(["profiles", "show", "jetson-orin-nano"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "checked on aarch64" in out and "under emulation only" in out
    assert main(["profiles", "show", "x86-host"]) == 0
    assert "checked on" not in capsys.readouterr().out


def test_bench_runs_the_native_eeg_engine_by_name_and_as_the_bundles_default(capsys) -> None:
    # eeg-valence names the native engine its default; bench measured nothing before (it
    # looked for a 'native' model file).
    code, default = run_json(capsys, "bench", "eeg-valence", "--runs", "5")
    code_n, native = run_json(capsys, "bench", "eeg-valence", "--engine", "native", "--runs", "5")
    code_o, onnx = run_json(capsys, "bench", "eeg-valence", "--engine", "onnx", "--runs", "5")
    assert code == code_n == code_o == 0
    assert default["engine"] == native["engine"] == "native/fp32"
    assert onnx["engine"] == "onnx/int8"
    assert default["model"] == native["model"] == "model_fp32.onnx"
    assert onnx["model"] == "model_int8.onnx"  # int8 first where the engine can run it
    assert native["measured"] and native["latency"]["p50_ms"] > 0
    # A model the C kernel cannot run is one line, exit 2.
    assert main(["bench", "eeg-valence", "--engine", "native", "--precision", "int8"]) == 2
    assert main(["bench", "speech-adv", "--engine", "native"]) == 2
    err = capsys.readouterr().err
    assert "the native engine runs fp32 models, not int8" in err
    assert "the native engine runs HiSTN's export form only" in err

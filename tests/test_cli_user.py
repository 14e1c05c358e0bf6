"""The command line as a demanding user finds it: every case through the entry point in a process
of its own, and the README's table of bad inputs kept in step with what it really does.

Commands run in processes forked from one server that has imported the entry point
(`tests.cli_server`: 80 cases in about 30 s instead of 120 s on the loaded 2-core host); what the
interpreter's start or a pipe shows (library noise, `| head`, /dev/full, missing extras, LiteRT's
notice) is tested on the installed `affect-edge` started afresh."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.cli_cases import BIN, CASES, CLIP, FACE, ROOT, case_env, make_inputs, run_case
from tests.cli_server import CliServer


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    return make_inputs(tmp_path_factory.mktemp("inputs"))


_SERVER: list[CliServer] = []


@pytest.fixture(scope="module", autouse=True)
def server(tmp_path_factory) -> Iterator[CliServer]:
    # One interpreter imports the entry point; each command runs in a process forked from it
    # (`cli`), unless a test needs the installed script started afresh (`fresh=True`).
    with CliServer(case_env(), tmp_path_factory.mktemp("cli-output")) as s:
        _SERVER.append(s)
        yield s
        _SERVER.remove(s)


@pytest.mark.parametrize("case", CASES, ids=[c.what for c in CASES])
def test_case(case, inputs: Path, tmp_path: Path, server: CliServer) -> None:
    done = run_case(case, inputs, cwd=tmp_path, server=server)
    out = done.stdout + done.stderr
    assert done.returncode == case.code, out[-2000:]
    assert case.says in out, out[-2000:]
    assert "Traceback" not in out
    if case.code == 2:  # one line for the user; argparse adds its usage line
        assert len([ln for ln in done.stderr.splitlines() if "error" in ln]) == 1, done.stderr
    if case.silent_stdout:
        assert done.stdout == "", done.stdout


def test_the_readme_lists_every_case() -> None:
    table = (
        (ROOT / "README.md")
        .read_text()
        .split("<!-- bad-inputs -->")[1]
        .split("<!-- /bad-inputs -->")[0]
    )
    for case in CASES:
        assert f"| {case.what} |" in table, (
            f"README table lacks: {case.what} (run scripts/bad_inputs_table.py)"
        )


def cli(
    *argv: str, cwd: Path | None = None, timeout: int = 300, fresh: bool = False
) -> subprocess.CompletedProcess:
    """`affect-edge ARGV` in a process of its own: forked from the module's server, or with
    `fresh` the installed script started anew (what the interpreter and imports print count)."""
    if _SERVER and not fresh:
        return _SERVER[0].run(
            list(argv), cwd=cwd or Path.cwd(), env=dict(os.environ), timeout=timeout
        )
    return subprocess.run(
        [str(BIN), *argv], capture_output=True, text=True, cwd=cwd, timeout=timeout
    )


def test_a_command_piped_into_head_ends_quietly(tmp_path: Path) -> None:
    done = subprocess.run(
        f"'{BIN}' run speech '{CLIP}' --json --block-ms 2 | head -n 1",
        shell=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert json.loads(done.stdout)["seq"] == 0


@pytest.mark.parametrize(
    "command",
    [
        "demo --speed 50",
        "models inspect speech-adv",
        "profiles show x86-host",
        "models verify speech-adv",
        "models list",
        "bench speech-adv --runs 5",
    ],
)
def test_every_command_piped_into_head_exits_0_quietly(command: str) -> None:
    # `set -o pipefail` makes the shell's status the command's, not head's.
    done = subprocess.run(
        f"set -o pipefail; '{BIN}' {command} | head -n 1",
        shell=True,
        executable="/bin/bash",
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0 and done.stderr == "", (done.returncode, done.stderr)
    assert done.stdout.strip()


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full here")
@pytest.mark.parametrize(
    "argv", [("run", "speech", str(CLIP)), ("bench", "speech-adv", "--runs", "5", "--json")]
)
def test_output_to_a_full_device_is_one_line_and_exit_2(argv: tuple) -> None:
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [str(BIN), *argv], stdout=full, stderr=subprocess.PIPE, text=True, timeout=300
        )
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [
        "affect-edge: error: cannot write the output (No space left on device); "
        "write it to another place"
    ]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into any folder")
def test_a_plot_into_a_folder_without_write_permission_fails_before_the_run(
    tmp_path: Path,
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    done = cli("run", "speech", str(CLIP), "--plot", str(locked / "x.png"))
    assert done.returncode == 2 and done.stdout == ""
    assert "no permission to write in" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "name, flag", [("pink-bursts", "not_speech"), ("sine", "not_speech"), ("clipped", "clipped")]
)
def test_garbage_audio_is_held_and_says_why(inputs: Path, name: str, flag: str) -> None:
    done = cli("run", "speech", str(inputs / f"{name}.wav"), "--json")
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    flagged = [e for e in events if e["quality"].get(flag)]
    assert len(flagged) >= len(events) - 1 and not any(e["updated"] for e in flagged)
    # The schema only grows: every event still has the v2 quality figures.
    assert all({"speech_ratio", "snr_db"} <= set(e["quality"]) for e in events)
    table = cli("run", "speech", str(inputs / f"{name}.wav")).stdout
    assert " 0 dB" not in table


def test_speech_at_1e6_full_scale_is_flagged_and_still_scored(inputs: Path) -> None:
    done = cli("run", "speech", str(inputs / "1e6.wav"), "--json")
    events = [json.loads(line) for line in done.stdout.splitlines()]
    assert all(e["quality"].get("out_of_range") for e in events)
    assert sum(e["updated"] for e in events) >= len(events) - 2
    assert not any(e["quality"].get("clipped") for e in events)


def test_real_speech_is_not_held_by_the_garbage_flags() -> None:
    """30 recordings of each shared corpus through the real pipeline: the new flags hold none
    of the windows the voice gate lets through (scripts/speech_quality.py does every file)."""
    data = ROOT.parent / "shared" / "data"
    if not (data / "emodb-train").is_dir():
        pytest.skip("the shared corpora (../shared/data) are not here")
    from edge.runtime import load_bundle
    from edge.runtime.registry import find_bundle
    from scripts.speech_quality import CORPORA, FLAGS, file_events, scored_before

    bundle = load_bundle(find_bundle("speech-adv"))
    windows, flagged = 0, []
    for name, pattern in CORPORA.items():
        for path in sorted((data / name).glob(pattern))[::40][:30]:
            for e in file_events(bundle, path):
                if scored_before(e):
                    windows += 1
                    if any(e.quality.get(f) for f in FLAGS):
                        flagged.append((path.name, e.start_s, e.quality))
    assert windows > 200
    assert len(flagged) <= 0.01 * windows, flagged


def test_a_cut_jpeg_prints_no_decoder_noise_and_no_score(inputs: Path) -> None:
    for cut in (0.1, 0.5, 0.9):
        jpeg = inputs / "cut.jpg"
        jpeg.write_bytes(FACE.read_bytes()[: int(cut * FACE.stat().st_size)])
        done = cli("run", "face", str(jpeg))
        assert done.returncode == 2 and done.stdout == ""
        assert done.stderr.splitlines() == [
            f"affect-edge: error: {jpeg} is not an image OpenCV can decode: a JPEG cut short "
            "(no end-of-image marker); copy or download it again"
        ]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_a_picture_without_read_permission_says_so(inputs: Path, tmp_path: Path) -> None:
    locked = tmp_path / "locked.png"
    locked.write_bytes((inputs / "grey.png").read_bytes())
    locked.chmod(0)
    done = cli("run", "face", str(locked))
    assert done.returncode == 2 and "no permission" in done.stderr


def without(modules: str, *argv: str) -> subprocess.CompletedProcess:
    """The real entry point with `modules` unimportable, as a wheel without their extra."""
    return subprocess.run(
        [sys.executable, "-m", "tests.without_extras", modules, *argv],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )


@pytest.mark.parametrize(
    "argv, says",
    [
        (("distill", "face", "--faces", "x.npz", "-o", "y.pt"), "distill face needs torch"),
        (("distill", "eeg", "--dreamer", "x.mat", "--target", "valence", "-o", "y.pt"), "torch"),
        (("eval", "eeg", "--dreamer", "x.mat"), "needs torch"),
    ],
)
def test_a_command_without_its_extra_names_the_pip_install(argv: tuple, says: str) -> None:
    done = without("torch", *argv)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert says in done.stderr and "pip install 'affect-edge[train]'" in done.stderr
    assert len(done.stderr.splitlines()) == 1


def test_a_24_bit_extensible_wav_reads_without_soundfile(inputs: Path) -> None:
    done = without("soundfile", "features", str(inputs / "extensible.wav"))
    assert done.returncode == 0, done.stderr
    assert "(WAV/PCM_24)" in done.stdout


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_a_recording_without_read_permission_says_so(tmp_path: Path) -> None:
    locked = tmp_path / "locked.wav"
    locked.write_bytes(CLIP.read_bytes())
    locked.chmod(0)
    done = cli("run", "speech", str(locked))
    assert done.returncode == 2 and "no permission (make it readable" in done.stderr


def test_library_noise_stays_off_stderr() -> None:
    # OpenCV's WARN lines for a camera it cannot open; our one line names the problem.
    camera = cli("run", "face", "camera:7", fresh=True)
    assert camera.returncode == 2 and len(camera.stderr.splitlines()) == 1, camera.stderr
    assert "WARN" not in camera.stderr
    # BrainFlow's pkg_resources deprecation warning on every board run.
    board = cli(
        "run", "eeg", "--board", "synthetic", "--seconds", "2", "--calibration-s", "0.5", fresh=True
    )
    assert board.returncode == 0 and "pkg_resources" not in board.stderr, board.stderr


def test_run_speech_listens_to_a_live_microphone() -> None:
    try:
        import sounddevice

        sounddevice.query_devices(kind="input")
    except Exception as exc:  # no PortAudio, or no input device on this machine
        pytest.skip(f"no microphone here: {exc}")
    done = cli("run", "speech", "mic", "--seconds", "3", "--json", timeout=60, fresh=True)
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    assert events and events[0]["source"].startswith("mic:")


def test_run_face_plots_the_expressions_over_time(tmp_path: Path) -> None:
    import cv2

    image = cv2.imread(str(FACE))
    video = tmp_path / "walk.avi"
    writer = cv2.VideoWriter(
        str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (image.shape[1], image.shape[0])
    )
    for i in range(12):
        shift = np.float32([[1, 0, 2 * i], [0, 1, 0]])
        writer.write(cv2.warpAffine(image, shift, (image.shape[1], image.shape[0])))
    writer.release()
    done = cli("run", "face", str(video), "--plot", "faces", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.rstrip().endswith("plot written to faces.png")
    assert (tmp_path / "faces.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = cli("run", "face", str(FACE), "--plot", "/proc/x.png")
    assert bad.returncode == 2 and "cannot write '/proc/x.png'" in bad.stderr


def test_results_come_before_the_plot_and_the_reported_path_is_the_written_one(
    tmp_path: Path,
) -> None:
    done = cli("run", "speech", str(CLIP), "--plot", "timeline", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.index("arousal") < done.stdout.index("plot written to timeline.png")
    assert (tmp_path / "timeline.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (tmp_path / "timeline").exists()


def test_plots_start_at_zero_thin_long_recordings_and_say_when_nothing_was_heard() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from edge.cli.plot import MAX_POINTS, thin, timeline
    from edge.events import AffectEvent

    def event(i: int, values: dict) -> AffectEvent:
        return AffectEvent("speech", "s", "m", "1", 0.5 * i, 0.5 * i + 1.0, values, bool(values))

    long = [event(i, {"arousal": 0.5 + 0.1 * np.sin(i)}) for i in range(3600)]
    t, mean, low, high = thin(np.arange(3600.0), np.array([e.values["arousal"] for e in long]))
    assert len(t) == MAX_POINTS and np.all(low <= mean) and np.all(mean <= high)
    _, ax = plt.subplots()
    timeline(ax, long, ["arousal"], 1800.5, "estimate", "nothing")
    assert ax.get_xlim()[0] == 0 and len(ax.lines[0].get_xdata()) == MAX_POINTS
    legend = ax.get_legend()
    assert legend.get_bbox_to_anchor().x0 > ax.get_window_extent().x1 - 1  # outside the axes
    _, ax2 = plt.subplots()
    timeline(
        ax2, [event(i, {}) for i in range(4)], ["arousal"], 3.0, "estimate", "no speech detected"
    )
    assert any("no speech detected" in t.get_text() for t in ax2.texts)
    plt.close("all")


@pytest.mark.parametrize(
    "minutes", [1, pytest.param(10, marks=pytest.mark.slow, id="10 (slow: 22-57 s here)")]
)
def test_features_of_a_long_recording_keeps_its_summary_short(tmp_path: Path, minutes) -> None:
    # The contour is binned to at most CONTOUR_CHARS characters whatever the length: one minute
    # (6,000 frames for 100 characters) shows it; ten minutes, streamed whole, in `make soak`.
    x, rate = sf.read(CLIP, dtype="float32")
    long = tmp_path / f"{minutes}-minutes.flac"
    sf.write(long, np.tile(x, int(60 * minutes / (len(x) / rate)) + 1), rate)
    done = cli("features", str(long), timeout=600)
    assert done.returncode == 0, done.stderr
    spark = done.stdout.splitlines()[-1].strip()
    assert 50 <= len(spark) <= 100
    assert "s per character" in done.stdout


def test_profiles_show_states_each_basis_once_with_units() -> None:
    done = cli("profiles", "show", "hearing-aid-coprocessor")
    assert done.returncode == 0
    assert "estimate: estimate" not in done.stdout and "(estimate: 160 MHz" in done.stdout
    assert "20 ms" in done.stdout and "65,536 B" in done.stdout and "32 samples" in done.stdout


def test_models_inspect_reads_as_a_table_without_machine_paths() -> None:
    done = cli("models", "inspect", "speech-adv")
    assert done.returncode == 0
    measured = done.stdout.split("measured")[-1]
    # The figures hold no raw dicts and no build machine's path (the title names where the bundle
    # sits here, which is the user's own).
    assert "{" not in measured and "/work/" not in measured
    assert "student.student_vs_teacher_ccc_validation.arousal" in measured
    source = next(ln for ln in measured.splitlines() if "calibration.source" in ln)
    assert source.split("│")[2].strip() and not source.split("│")[2].strip().startswith("/")


def test_litert_prints_no_delegate_notice() -> None:
    done = cli("run", "speech", str(CLIP), "--engine", "tflite", fresh=True)
    assert done.returncode == 0 and "tflite/int8" in done.stdout
    assert "XNNPACK" not in done.stderr and done.stderr == ""


def test_bench_shows_every_check_and_its_basis() -> None:
    done = cli(
        "bench", "speech-adv", "--profile", "hearing-aid-coprocessor", "--runs", "20", "--json"
    )
    report = json.loads(done.stdout)
    assert done.returncode == 0 and report["ok"]
    checks = {c["figure"]: c for c in report["checks"]}
    assert checks["latency_p99_ms"]["basis"].startswith("estimate: 4,096,752 declared MACs")
    assert checks["cpu_share"]["value"] == pytest.approx(4_096_752 * 2 / 6.4e8)
    assert checks["memory_bytes"]["limit"] == 1_048_576
    assert "not checked" in report["latency_scale_basis"]  # no factor from x86 to the MCU
    text = cli("bench", "speech-adv", "--profile", "hearing-aid-coprocessor", "--runs", "20").stdout
    assert "measured latency on hearing-aid-coprocessor: not checked" in text
    assert re.search(r"cpu_share .* 1\.28% of a core", text)


def test_bench_judges_latency_by_the_median_of_rounds_and_says_when_it_is_inconclusive() -> None:
    done = cli(
        "bench",
        "speech-adv",
        "--profile",
        "raspberry-pi-4",
        "--engine",
        "tflite",
        "--runs",
        "40",
        "--json",
    )
    report = json.loads(done.stdout)
    rounds = report["latency_rounds"]
    assert len(rounds) == 5 and report["latency"]["count"] == 200
    assert report["latency"]["p99_ms"] == pytest.approx(np.median([r["p99_ms"] for r in rounds]))
    p99 = next(c for c in report["checks"] if c["figure"] == "latency_p99_ms")
    scale = report["latency_scale"]
    values = [r["p99_ms"] * scale for r in rounds]
    assert p99["inconclusive"] == (min(values) <= p99["limit"] < max(values))
    assert p99["ok"] == (p99["value"] <= p99["limit"])
    assert done.returncode == (0 if report["ok"] else 3)


def test_help_states_the_supported_rates_and_the_exit_rule() -> None:
    assert "8,000 to 192,000 Hz" in cli("run", "speech", "--help").stdout
    assert "Exit status: 0 within every budget" in cli("bench", "--help").stdout.replace("\n", " ")

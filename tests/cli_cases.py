"""Bad (and awkward) inputs a user gives the command line, and what each must get.

One list serves two masters: `tests/test_cli_user.py` runs every case through the installed
`affect-edge` in a subprocess, and `scripts/bad_inputs_table.py` writes the README's table from
the same runs, so the table says what the command really does.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from devices.profile import electrodes

ROOT = Path(__file__).resolve().parents[1]
CLIP = ROOT / "edge" / "data" / "samples" / "speech_en.wav"
FACE = ROOT / "edge" / "data" / "samples" / "face_astronaut.jpg"
BIN = Path(sys.executable).parent / "affect-edge"
#: The DREAMER (Emotiv) electrodes the default EEG bundle takes.
EMOTIV_14 = electrodes("emotiv-14")


@dataclass(frozen=True)
class Case:
    what: str
    argv: tuple[str, ...]  # "{clip}" and "{in}" (the inputs folder) are filled in
    code: int
    says: str  # a substring the output (stdout + stderr) must hold
    silent_stdout: bool = False  # nothing on stdout (an error must not print half a result)


def make_inputs(folder: Path) -> Path:
    """Write every input file the cases name into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    x, rate = sf.read(CLIP, dtype="float32")
    t = np.arange(4000 * 3) / 4000
    sf.write(folder / "4khz.wav", (0.3 * np.sin(2 * np.pi * 300 * t)).astype(np.float32), 4000)
    noise = np.random.default_rng(1).uniform(-1, 1, 200).astype(np.float32)
    sf.write(folder / "1hz.wav", noise, 1, subtype="FLOAT")
    sf.write(folder / "header-only.wav", np.zeros(0, np.float32), 16000)
    (folder / "empty.wav").write_bytes(b"")
    (folder / "dir.wav").mkdir(exist_ok=True)
    (folder / "text.wav").write_text("this is not audio\n" * 20)
    sf.write(folder / "short.wav", x[: int(0.30 * rate)], rate)
    nan = x.copy()
    nan[5000:5100] = np.nan
    sf.write(folder / "nan.wav", nan, rate, subtype="FLOAT")
    sf.write(folder / "silence.wav", np.zeros(3 * 16000, np.float32), 16000)
    sf.write(folder / "stereo-float.wav", np.stack([x, x], 1), rate, subtype="FLOAT")
    sf.write(folder / "extensible.wav", x, rate, format="WAVEX", subtype="PCM_24")
    sf.write(folder / "rf64.wav", x, rate, format="RF64", subtype="PCM_16")
    sf.write(folder / "ulaw.wav", x, rate, subtype="ULAW")
    sf.write(folder / "adpcm.wav", x, rate, subtype="IMA_ADPCM")
    sf.write(folder / "pink-bursts.wav", pink_bursts(), 16000, subtype="PCM_16")
    sf.write(folder / "clipped.wav", np.clip(x * 100, -1, 1), rate, subtype="PCM_16")  # gain 40
    sf.write(folder / "1e6.wav", x * 1e6, rate, subtype="FLOAT")
    t = np.arange(16000 * 3) / 16000
    sf.write(folder / "sine.wav", 0.5 * np.sin(2 * np.pi * 440 * t), 16000, subtype="PCM_16")
    sf.write(folder / "clip.flac", x, rate)
    sf.write(folder / "clip.ogg", x, rate)
    sf.write(folder / "clip.mp3", x, rate, format="MP3")
    make_images(folder)
    return folder


def pink_bursts(rate: int = 16000, seed: int = 0) -> np.ndarray:
    """What `sox -n pinkb.wav synth 0.3 pinknoise vol 0.8 pad 0 0.3 repeat 8` makes: 0.3 s of pink
    noise peaking at 0.8 of full scale, then 0.3 s of silence, nine times (made here: no sox)."""
    rng = np.random.default_rng(seed)
    n = int(0.3 * rate)
    parts = []
    for _ in range(9):
        spectrum = np.fft.rfft(rng.standard_normal(n))
        f = np.fft.rfftfreq(n, 1 / rate)
        spectrum[1:] /= np.sqrt(f[1:])
        spectrum[0] = 0
        burst = np.fft.irfft(spectrum, n)
        parts += [0.8 * burst / np.abs(burst).max(), np.zeros(n)]
    return np.concatenate(parts).astype(np.float32)


def make_images(folder: Path) -> None:
    """Images of the shipped photograph in the forms users send, and broken ones."""
    import cv2

    face = cv2.imread(str(FACE))
    grey = cv2.cvtColor(face, cv2.COLOR_BGR2GRAY)
    cv2.imwrite(str(folder / "grey.png"), grey)
    cv2.imwrite(str(folder / "rgba.png"), cv2.cvtColor(face, cv2.COLOR_BGR2BGRA))
    cv2.imwrite(str(folder / "16bit.png"), face.astype(np.uint16) * 257)
    cv2.imwrite(str(folder / "dark.png"), (face * 0.12).astype(np.uint8))
    cv2.imwrite(str(folder / "1x1.png"), face[:1, :1])
    cv2.imwrite(str(folder / "cut.png"), face[:, 215:])
    cv2.imwrite(str(folder / "ten.png"), np.tile(face[50:200, 160:290], (2, 5, 1)))
    cv2.imwrite(str(folder / "no-face.png"), np.full((240, 320, 3), 128, np.uint8))
    (folder / "text.png").write_text("this is not an image\n" * 20)
    (folder / "truncated.jpg").write_bytes(FACE.read_bytes()[:300])
    jpeg = FACE.read_bytes()
    (folder / "half.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    (folder / "dir.png").mkdir(exist_ok=True)
    eeg = np.random.default_rng(2).normal(4200, 10, (128 * 3, 14))
    lines = ["time," + ",".join(EMOTIV_14)]
    lines += [f"{i / 128:.6f}," + ",".join(f"{v:.2f}" for v in row) for i, row in enumerate(eeg)]
    (folder / "short14.csv").write_text("\n".join(lines) + "\n")
    (folder / "two.csv").write_text("a,b\n" + "".join(f"{i},{-i}\n" for i in range(300)))
    (folder / "fake.edf").write_text("0       not an EDF header at all\n" * 20)
    (folder / "photo.csv").write_bytes(FACE.read_bytes())
    (folder / "notes.json").write_text("calibrated on Monday, eyes closed\n")
    (folder / "other.json").write_text('{"name": "not a baseline"}\n')


CASES: tuple[Case, ...] = (
    Case("run face on a grey image", ("run", "face", "{in}/grey.png"), 0, "happy"),
    Case("run face on an RGBA PNG", ("run", "face", "{in}/rgba.png"), 0, "happy"),
    Case("run face on a 16-bit PNG", ("run", "face", "{in}/16bit.png"), 0, "happy"),
    Case("run face on a 1x1 image", ("run", "face", "{in}/1x1.png"), 0, "no face found"),
    Case(
        "run face on an image with no face", ("run", "face", "{in}/no-face.png"), 0, "no face found"
    ),
    # The weakest of the ten (detector score 0.57) is under the detector's 0.65 threshold.
    Case("run face on ten faces", ("run", "face", "{in}/ten.png", "--json"), 0, '"id":8'),
    Case("run face on a face cut by the frame's edge", ("run", "face", "{in}/cut.png"), 0, "cut"),
    Case("run face on a very dark frame", ("run", "face", "{in}/dark.png"), 0, "dark"),
    Case(
        "run face on a text file named .png",
        ("run", "face", "{in}/text.png"),
        2,
        "not an image OpenCV can decode",
        True,
    ),
    Case(
        "run face on a JPEG cut after 300 bytes",
        ("run", "face", "{in}/truncated.jpg"),
        2,
        "is not an image OpenCV can decode: a JPEG cut short (no end-of-image marker)",
        True,
    ),
    Case(
        "run face on a JPEG cut at half its bytes",
        ("run", "face", "{in}/half.jpg"),
        2,
        "is not an image OpenCV can decode: a JPEG cut short (no end-of-image marker)",
        True,
    ),
    Case(
        "run face on a folder named dir.png",
        ("run", "face", "{in}/dir.png"),
        2,
        "dir.png is a directory, not an image file",
        True,
    ),
    Case(
        "run face on camera:-1",
        ("run", "face", "camera:-1"),
        2,
        "camera numbers start at 0",
        True,
    ),
    Case(
        "run face on a camera that is not there",
        ("run", "face", "camera:7"),
        2,
        "cannot open it",
        True,
    ),
    Case(
        "run face --annotate into a format it cannot write",
        ("run", "face", "{in}/grey.png", "--annotate", "x.gif"),
        2,
        ".gif",
        True,
    ),
    Case(
        "run eeg with neither a recording nor a board",
        ("run", "eeg"),
        2,
        "give an EEG recording or --board",
        True,
    ),
    Case(
        "run eeg on a CSV without naming its columns",
        ("run", "eeg", "{in}/two.csv"),
        2,
        "--csv-columns",
        True,
    ),
    Case(
        "run eeg on a recording without the model's electrodes",
        ("run", "eeg", "{in}/two.csv", "--csv-columns", "a,b", "--rate", "128"),
        2,
        "needs electrode(s) AF3",
        True,
    ),
    Case(
        "run eeg on a text file named .edf",
        ("run", "eeg", "{in}/fake.edf"),
        2,
        "not a readable EDF/BDF file",
        True,
    ),
    Case(
        "run eeg on an unknown board",
        ("run", "eeg", "--board", "musee"),
        2,
        "unknown BrainFlow board 'musee'",
        True,
    ),
    Case(
        "run eeg on a WAV file",
        ("run", "eeg", "{clip}"),
        2,
        "is a WAV audio file (speech: affect-edge run speech FILE), not an EEG recording",
        True,
    ),
    Case(
        "run eeg on a JPEG renamed .csv",
        ("run", "eeg", "{in}/photo.csv"),
        2,
        "is a JPEG image (faces: affect-edge run face FILE), not an EEG recording",
        True,
    ),
    Case(
        "run eeg --baseline a file that is not JSON",
        ("run", "eeg", "{in}/short14.csv", "--baseline", "{in}/notes.json"),
        2,
        "not JSON (Expecting value at line 1, column 1); give a file that run eeg --save-baseline",
        True,
    ),
    Case(
        "run eeg --baseline JSON that is not a baseline",
        ("run", "eeg", "{in}/short14.csv", "--baseline", "{in}/other.json"),
        2,
        "it has no 'channels' entry",
        True,
    ),
    Case(
        "run eeg --save-baseline into a folder that does not exist",
        ("run", "eeg", "{in}/short14.csv", "--save-baseline", "/nonexistent/d/b.json"),
        2,
        "folder /nonexistent/d does not exist",
        True,
    ),
    Case(
        "run eeg --board cyton without --serial-port",
        ("run", "eeg", "--board", "cyton"),
        2,
        "the board needs its connection: a serial port (--serial-port",
        True,
    ),
    Case(
        "run eeg --board cyton on a serial port that is not there",
        ("run", "eeg", "--board", "cyton", "--serial-port", "/dev/nothing-here"),
        2,
        "serial port /dev/nothing-here cannot be opened",
        True,
    ),
    Case(
        "export-c -o naming an existing file, with --force",
        ("export-c", "eeg-valence", "-o", "{in}/two.csv", "--force"),
        2,
        "refusing to replace it even with --force: it is a file",
        True,
    ),
    Case(
        "run eeg on 3 s of EEG (calibration needs 12 s)",
        (
            "run",
            "eeg",
            "{in}/short14.csv",
            "--csv-columns",
            ",".join(EMOTIV_14),
            "--csv-time",
            "time",
        ),
        0,
        "no window was scored",
    ),
    Case(
        "run eeg on BrainFlow's synthetic board for 4 s",
        ("run", "eeg", "--board", "synthetic", "--seconds", "4", "--calibration-s", "0.5"),
        0,
        "synthetic board: its first 4 channels",
    ),
    Case(
        "a plot into a folder that does not exist",
        ("run", "speech", "{clip}", "--plot", "/nonexistent/d/x.png"),
        2,
        "folder /nonexistent/d does not exist",
        True,
    ),
    Case(
        "a plot in a format matplotlib cannot write",
        ("run", "speech", "{clip}", "--plot", "x.xyz"),
        2,
        "unsupported file type .xyz",
        True,
    ),
    Case(
        "a plot where the system makes no files (/proc)",
        ("run", "speech", "{clip}", "--plot", "/proc/x.png"),
        2,
        "cannot write '/proc/x.png'",
        True,
    ),
    Case(
        "a plot under a file, not a folder",
        ("run", "speech", "{clip}", "--plot", "{in}/clip.flac/x.png"),
        2,
        "is a file, not a folder",
        True,
    ),
    Case(
        "demo --plot where the system makes no files",
        ("demo", "--plot", "/proc/x.png"),
        2,
        "cannot write '/proc/x.png'",
        True,
    ),
    Case(
        "features -o where the system makes no files",
        ("features", "{clip}", "-o", "/proc/x.npy"),
        2,
        "cannot write '/proc/x.npy'",
        True,
    ),
    Case(
        "run face --annotate a picture where the system makes no files",
        ("run", "face", "{in}/grey.png", "--annotate", "/proc/x.png"),
        2,
        "cannot write '/proc/x.png'",
        True,
    ),
    Case(
        "run face --annotate a video where the system makes no files",
        ("run", "face", "{in}/grey.png", "--annotate", "/proc/x.mp4"),
        2,
        "cannot write '/proc/x.mp4'",
        True,
    ),
    Case(
        "features saved into a folder that does not exist",
        ("features", "{clip}", "-o", "/nonexistent/x.npy"),
        2,
        "folder /nonexistent does not exist",
        True,
    ),
    Case(
        "a WAV with a valid header and no samples",
        ("features", "{in}/header-only.wav"),
        2,
        "holds no samples",
        True,
    ),
    Case(
        "an empty (0-byte) .wav",
        ("run", "speech", "{in}/empty.wav"),
        2,
        "is not readable audio (",
        True,
    ),
    Case(
        "a text file named .wav", ("features", "{in}/text.wav"), 2, "is not readable audio (", True
    ),
    Case(
        "a folder named dir.wav",
        ("run", "speech", "{in}/dir.wav"),
        2,
        "dir.wav is a directory, not an audio file",
        True,
    ),
    Case(
        "run speech mic:99 (a microphone that is not there)",
        ("run", "speech", "mic:99", "--seconds", "1"),
        2,
        "mic:99: no such input device",
        True,
    ),
    Case(
        "a file that does not exist",
        ("run", "speech", "{in}/nope.wav"),
        2,
        "audio file not found",
        True,
    ),
    Case(
        "--block-ms nan",
        ("run", "speech", "{clip}", "--block-ms", "nan"),
        2,
        "must be a positive, finite number of milliseconds",
        True,
    ),
    Case(
        "--block-ms inf",
        ("run", "speech", "{clip}", "--block-ms", "inf"),
        2,
        "must be a positive, finite number of milliseconds",
        True,
    ),
    Case(
        "--block-ms 0",
        ("run", "speech", "{clip}", "--block-ms", "0"),
        2,
        "must be a positive, finite number",
        True,
    ),
    Case(
        "--block-ms -5",
        ("run", "speech", "{clip}", "--block-ms", "-5"),
        2,
        "must be a positive, finite number",
        True,
    ),
    Case(
        "--block-ms 1e-30 (a block shorter than a sample)",
        ("run", "speech", "{clip}", "--block-ms", "1e-30"),
        2,
        "argument --block-ms: must be from 0.1 to 60000 milliseconds",
        True,
    ),
    Case(
        "demo --speed 1e-9 (would never end)",
        ("demo", "--speed", "1e-9"),
        2,
        "argument --speed: must be from 0.1 to 1000 times real time",
        True,
    ),
    Case(
        "bench --threads 1000",
        ("bench", "speech-adv", "--threads", "1000"),
        2,
        "argument --threads: must be at most",
        True,
    ),
    Case(
        "bridge --queue -1", ("bridge", "--stdio", "--queue", "-1"), 2, "must be at least 1", True
    ),
    Case(
        "bridge --queue 0 (would drop every block)",
        ("bridge", "--stdio", "--queue", "0"),
        2,
        "argument --queue: must be at least 1",
        True,
    ),
    Case(
        "bridge --baud -5",
        ("bridge", "--serial", "/dev/ttyUSB9", "--baud", "-5"),
        2,
        "argument --baud: must be at least 50",
        True,
    ),
    Case(
        "bridge --seconds nan",
        ("bridge", "--stdio", "--seconds", "nan"),
        2,
        "argument --seconds: must be a positive, finite number of seconds",
        True,
    ),
    Case(
        "--update-s nan",
        ("run", "speech", "{clip}", "--update-s", "nan"),
        2,
        "argument --update-s: must be a positive, finite number of seconds",
        True,
    ),
    Case(
        "--update-s 0",
        ("run", "speech", "{clip}", "--update-s", "0"),
        2,
        "argument --update-s: must be a positive",
        True,
    ),
    Case(
        "--update-s -1",
        ("run", "speech", "{clip}", "--update-s", "-1"),
        2,
        "argument --update-s: must be a positive",
        True,
    ),
    Case(
        "--update-s 1e9 (longer than the recording)",
        ("run", "speech", "{clip}", "--update-s", "1e9", "--json"),
        0,
        '"end_s":6.252',
    ),
    Case(
        "a 4 kHz recording (below what the model can use)",
        ("run", "speech", "{in}/4khz.wav"),
        2,
        "outside what the speech model can use (8,000 to 192,000 Hz)",
        True,
    ),
    Case(
        'a 1 Hz "WAV" of random numbers',
        ("run", "speech", "{in}/1hz.wav"),
        2,
        "audio at 1 Hz is outside what the speech model can use",
        True,
    ),
    Case(
        "a 0.30 s recording",
        ("run", "speech", "{in}/short.wav"),
        2,
        "lasts 0.300 s; the speech model needs at least 0.322 s",
        True,
    ),
    Case(
        "a 0.30 s recording with --json",
        ("run", "speech", "{in}/short.wav", "--json"),
        2,
        "needs at least 0.322 s",
        True,
    ),
    Case(
        "NaN samples in a float WAV (--json)",
        ("run", "speech", "{in}/nan.wav", "--json"),
        0,
        '"nonfinite":100',
    ),
    Case(
        "a silent recording (features)",
        ("features", "{in}/silence.wav"),
        0,
        "none: the recording is silent",
    ),
    Case(
        "a silent recording (run speech)",
        ("run", "speech", "{in}/silence.wav"),
        0,
        "held: too little speech",
    ),
    Case(
        "pink-noise bursts (not speech)",
        ("run", "speech", "{in}/pink-bursts.wav"),
        0,
        "held: not speech",
    ),
    Case(
        "a steady 440 Hz sine (not speech)",
        ("run", "speech", "{in}/sine.wav"),
        0,
        "held: not speech",
    ),
    Case(
        "speech clipped by 40 dB of gain",
        ("run", "speech", "{in}/clipped.wav"),
        0,
        "held: clipped",
    ),
    Case(
        "a float WAV at 1e6 full scale",
        ("run", "speech", "{in}/1e6.wav", "--json"),
        0,
        '"out_of_range":true',
    ),
    Case(
        "features of a stereo float WAV",
        ("features", "{in}/stereo-float.wav"),
        0,
        "2 ch (WAV/FLOAT)",
    ),
    Case(
        "features of a WAVE_FORMAT_EXTENSIBLE file",
        ("features", "{in}/extensible.wav"),
        0,
        "(WAVEX/PCM_24)",
    ),
    Case("features of an RF64 file", ("features", "{in}/rf64.wav"), 0, "(RF64/PCM_16)"),
    Case("features of a µ-law WAV", ("features", "{in}/ulaw.wav"), 0, "(WAV/ULAW)"),
    Case("features of an IMA ADPCM WAV", ("features", "{in}/adpcm.wav"), 0, "(WAV/IMA_ADPCM)"),
    Case("features of a FLAC file", ("features", "{in}/clip.flac"), 0, "(FLAC/PCM_16)"),
    Case("features of an Ogg Vorbis file", ("features", "{in}/clip.ogg"), 0, "(OGG/VORBIS)"),
    Case("features of an MP3 file", ("features", "{in}/clip.mp3"), 0, "(MP3/MPEG_LAYER_III)"),
    Case(
        "run speech on an MP3 file",
        ("run", "speech", "{in}/clip.mp3"),
        0,
        "speech-adv on onnx/int8",
    ),
    Case(
        "models list --dir a folder that does not exist",
        ("models", "list", "--dir", "/nonexistent"),
        0,
        "warning: model folder not found: /nonexistent",
    ),
    Case(
        "bench --precision fp16 (no bundle holds fp16)",
        ("bench", "speech-adv", "--precision", "fp16"),
        2,
        "invalid choice: 'fp16'",
        True,
    ),
    Case(
        "bench against a profile with no speech budget",
        ("bench", "speech-adv", "--profile", "muse-2", "--runs", "20"),
        0,
        "muse-2 sets no speech budget",
    ),
    Case(
        "bench against the hearing-aid co-processor",
        ("bench", "speech-adv", "--profile", "hearing-aid-coprocessor", "--runs", "20"),
        0,
        "cpu_share",
    ),
    Case(
        "an unknown device profile",
        ("profiles", "show", "toaster"),
        2,
        "unknown device profile 'toaster'",
        True,
    ),
    Case(
        "an unknown bundle name",
        ("models", "inspect", "nothing-here"),
        2,
        "bundle not found: nothing-here",
        True,
    ),
    Case(
        "export-c of a face bundle (no C front end for images)",
        ("export-c", "face-expr", "-o", "{in}/export-face"),
        2,
        "the C front ends cover speech (logmel) and EEG",
        True,
    ),
    Case(
        "export-c against an unknown device profile",
        ("export-c", "eeg-valence", "-o", "{in}/export-eeg", "--profile", "toaster"),
        2,
        "unknown device profile 'toaster'",
        True,
    ),
)


def expand(case: Case, inputs: Path) -> list[str]:
    return [a.replace("{clip}", str(CLIP)).replace("{in}", str(inputs)) for a in case.argv]


def case_env() -> dict[str, str]:
    """The environment every case runs in: no extra model folders."""
    return {k: v for k, v in os.environ.items() if k != "AFFECT_EDGE_MODELS"}


def run_case(case: Case, inputs: Path, cwd: Path, server=None) -> subprocess.CompletedProcess:
    """The case through `affect-edge`: a new process, or a child of `server` (a
    `tests.cli_server.CliServer`, which saves each case the interpreter's start)."""
    if server is not None:
        return server.run(expand(case, inputs), cwd=cwd, env=case_env(), timeout=300)
    return subprocess.run(
        [str(BIN), *expand(case, inputs)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=case_env(),
        timeout=300,
    )


def message(case: Case, done: subprocess.CompletedProcess, width: int = 150) -> str:
    """What the user reads: the error line, else the part of the output around the expected text."""
    lines = [ln.strip() for ln in (done.stderr + done.stdout).splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("affect-edge") and "error" in ln]
    if errors:
        return errors[-1]
    line = next((ln for ln in lines if case.says in ln), lines[0] if lines else "")
    line = " ".join(line.replace("│", " ").split())  # a table row: its cells, not its drawing
    at = max(0, line.find(case.says) - (width - len(case.says)) // 2)
    cut = line[at : at + width]
    return ("..." if at else "") + cut + ("..." if at + width < len(line) else "")

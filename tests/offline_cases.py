"""Hostile inputs to the offline commands (distill, export, export-c) and what each must get.

`tests/test_offline_cli.py` runs every case through the installed `affect-edge` in a subprocess;
`python scripts/offline_bad_inputs_table.py` prints the README's table from the same runs.
Each case is refused before any training or export starts, so each run takes a second or two.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

BIN = Path(sys.executable).parent / "affect-edge"
#: A folder nobody, not even root, can create files in (sysfs).
UNWRITABLE = Path("/sys/affect-edge-test")


@dataclass(frozen=True)
class Case:
    what: str
    argv: tuple[str, ...]  # "{in}" is the inputs folder
    says: str  # a substring of the one error line
    code: int = 2


TINY_WAV = "tiny.wav"


def make_inputs(folder: Path) -> Path:
    """Every input file the cases name, written into `folder` (no torch needed)."""
    import soundfile as sf

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "text.mat").write_text("this is not a MATLAB file\n")
    (folder / "garbage.pt").write_bytes(np.random.default_rng(0).bytes(3000))
    (folder / "notes.txt").write_text("a user's notes\n")
    crops = np.zeros((4, 48, 48), np.uint8)
    np.savez(
        folder / "unlabelled-lfw.npz", images=crops, source_file=np.array(["A_B_0001.jpg"] * 4)
    )
    np.savez(folder / "no-images.npz", pixels=crops)
    audio = folder / "audio"
    audio.mkdir(exist_ok=True)
    tone = 0.1 * np.sin(2 * np.pi * 220 * np.arange(16000) / 16000)
    sf.write(audio / TINY_WAV, tone.astype(np.float32), 16000)
    (audio / "labels.csv").write_text("file,mood\ntiny.wav,happy\n")
    corpus = folder / "shared" / "data" / "emodb-train"
    corpus.mkdir(parents=True, exist_ok=True)
    (corpus / "labels.csv").write_text("file,emotion\n03a01Fa.wav,happiness\n")
    return folder


SPEECH = ("distill", "speech", "--teacher", "emodb:{in}/none.pt", "--audio", "{in}/audio")
FACE = ("distill", "face", "--faces", "{in}/unlabelled-lfw.npz")
EEG = ("distill", "eeg", "--dreamer", "{in}/x.mat")
EXPORT = ("export", "{in}/garbage.pt", "--calibration", "{in}/none.npy")

CASES = [
    Case(
        "distill speech --epochs 0",
        (*SPEECH, "-o", "{in}/s.pt", "--epochs", "0"),
        "argument --epochs: must be at least 1, got 0",
    ),
    Case(
        "distill speech --epochs -1",
        (*SPEECH, "-o", "{in}/s.pt", "--epochs", "-1"),
        "argument --epochs: must be at least 1, got -1",
    ),
    Case(
        "distill face --epochs 0",
        (*FACE, "-o", "{in}/f.pt", "--epochs", "0"),
        "argument --epochs: must be at least 1",
    ),
    Case(
        "distill eeg --epochs -1",
        (*EEG, "-o", "{in}/e.pt", "--epochs", "-1"),
        "argument --epochs: must be at least 1",
    ),
    Case(
        "eval eeg --epochs 0",
        ("eval", "eeg", "--dreamer", "{in}/x.mat", "--epochs", "0"),
        "argument --epochs: must be at least 1",
    ),
    Case(
        "distill speech --batch-size 0",
        (*SPEECH, "-o", "{in}/s.pt", "--batch-size", "0"),
        "argument --batch-size: must be at least 1",
    ),
    Case(
        "distill face --batch-size 0",
        (*FACE, "-o", "{in}/f.pt", "--batch-size", "0"),
        "argument --batch-size: must be at least 1",
    ),
    Case(
        "distill speech --variants -1",
        (*SPEECH, "-o", "{in}/s.pt", "--variants", "-1"),
        "argument --variants: must be 0 or more",
    ),
    Case(
        "distill speech --speaker-regex '('",
        (*SPEECH, "-o", "{in}/s.pt", "--speaker-regex", "("),
        "argument --speaker-regex: '(' is not a regular expression",
    ),
    Case(
        "distill speech: labels.csv without an emotion column",
        (*SPEECH, "-o", "{in}/s.pt"),
        "human labels need 'file' and 'emotion' columns",
    ),
    Case(
        "distill face: an .npz with source_file but no labels",
        (*FACE, "-o", "{in}/f.pt"),
        "has source_file but no 'labels' array",
    ),
    Case(
        "distill eeg: a text file as --dreamer",
        ("distill", "eeg", "--dreamer", "{in}/text.mat", "-o", "{in}/e.pt"),
        "text.mat is not a readable MATLAB file",
    ),
    Case(
        "distill eeg --write-synthetic -1",
        (*EEG, "-o", "{in}/e.pt", "--write-synthetic", "-1"),
        "argument --write-synthetic: must be at least 1, got -1",
    ),
    Case(
        "distill evaluate: labels.csv without a speaker column",
        ("distill", "evaluate", "--shared", "{in}/shared"),
        "has no speaker column(s)",
    ),
    Case(
        "distill speech into an unwritable folder",
        (*SPEECH[:-2], "--audio", "{in}/empty", "-o", f"{UNWRITABLE}/s.pt"),
        "cannot write in /sys (",
    ),
    Case(
        "distill eeg into an unwritable folder",
        (*EEG, "-o", f"{UNWRITABLE}/e.pt"),
        "cannot write in /sys (",
    ),
    Case(
        "distill eeg --write-synthetic over an existing file",
        (
            "distill",
            "eeg",
            "--dreamer",
            "{in}/notes.txt",
            "--write-synthetic",
            "2",
            "-o",
            "{in}/e.pt",
        ),
        "notes.txt already exists; pass --force to replace it",
    ),
    Case(
        "distill eeg --write-synthetic --force over a user's file",
        (
            "distill",
            "eeg",
            "--dreamer",
            "{in}/text.mat",
            "--write-synthetic",
            "2",
            "-o",
            "{in}/e.pt",
            "--force",
        ),
        "refusing to replace it even with --force: it is not a DREAMER-structured file",
    ),
    Case(
        "distill eeg -o an existing checkpoint",
        (*EEG, "-o", "{in}/garbage.pt"),
        "garbage.pt already exists; pass --force to replace it",
    ),
    Case(
        "distill eeg -o a user's file --force",
        (*EEG, "-o", "{in}/notes.txt", "--force"),
        "refusing to replace it even with --force: it is not a torch checkpoint",
    ),
    Case(
        "export into an unwritable folder",
        (*EXPORT, "-o", f"{UNWRITABLE}/b"),
        "cannot write in /sys (",
    ),
    Case(
        "export -o a user's file --force",
        (*EXPORT, "-o", "{in}/notes.txt", "--force"),
        "refusing to replace it even with --force: it is a file that is not a bundle",
    ),
    Case(
        "export of a garbage .pt",
        (*EXPORT, "-o", "{in}/b"),
        "garbage.pt is not an affect-edge checkpoint: it is not a torch file",
    ),
    Case(
        "export-c into an unwritable folder",
        ("export-c", "speech-adv", "-o", f"{UNWRITABLE}/c"),
        "cannot write in /sys (",
    ),
    Case(
        "export-c into a folder holding files",
        ("export-c", "speech-adv", "-o", "{in}/audio"),
        "already exists and is not empty; pass --force",
    ),
    Case(
        "export-c --force into a user's folder",
        ("export-c", "speech-adv", "-o", "{in}/audio", "--force"),
        "refusing to replace it even with --force: the folder holds no export.json",
    ),
]


def run_case(case: Case, inputs: Path, timeout: int = 120) -> subprocess.CompletedProcess:
    argv = [a.replace("{in}", str(inputs)) for a in case.argv]
    env = {**os.environ, "COLUMNS": "200", "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [str(BIN), *argv], capture_output=True, text=True, timeout=timeout, env=env
    )


def sys_is_unwritable() -> bool:
    import tempfile

    try:
        fd, name = tempfile.mkstemp(dir=UNWRITABLE.parent)
    except OSError:
        return True
    os.close(fd)
    os.unlink(name)
    return False

"""EEG recording formats: what each reader costs to start, to read a long recording, in memory and
on disk, so the choice of reader per format rests on figures (README, EEG formats).

One recording (32 electrodes at 512 Hz, 60 minutes; 10 with --quick) is written in each format
with MNE's writers, then read through `open_eeg_file`'s reader for it, and for EDF/BDF through
`MneRawSource` as well, each in a fresh interpreter: import of the reader's library, opening
(the header; MNE also builds its montage lookup), streaming every 0.1 s frame, and the peak
resident memory of the whole process. Install sizes are the files the installed distributions
list (their RECORD), MNE with every dependency it brings beyond NumPy.

The readers run under ``$BENCH_READER_PYTHON`` (default: this interpreter), so that they can be
timed in an environment holding only what a device's ``eeg`` extra installs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

from bench import report
from bench.timing import machine

CHANNELS, RATE = 32, 512
ROOT = Path(__file__).resolve().parent.parent

#: (case, suffix, reader): `open_eeg_file`'s choice, and MNE for EDF/BDF as the alternative.
CASES = (
    ("EDF+ (pyedflib, the reader run eeg uses)", ".edf", "auto"),
    ("EDF+ (MNE)", ".edf", "mne"),
    ("BDF (pyedflib, the reader run eeg uses)", ".bdf", "auto"),
    ("BDF (MNE)", ".bdf", "mne"),
    ("BrainVision (MNE)", ".vhdr", "auto"),
    ("EEGLAB, data in the .set (MNE)", ".set", "auto"),
    ("FIF (MNE)", "_raw.fif", "auto"),
)

READ = r"""
import json, sys, time

def peak_mib():
    # VmHWM, not ru_maxrss: Linux keeps ru_maxrss across exec, so it would count the parent.
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmHWM")) / 1024

t0 = time.perf_counter()
path, reader = sys.argv[1], sys.argv[2]
if reader == "mne":
    import mne
    from devices.eeg.mne_source import MneRawSource
    make = lambda: MneRawSource(path)
elif path.endswith((".edf", ".bdf")):
    import pyedflib
    from devices.eeg import open_eeg_file
    make = lambda: open_eeg_file(path)
else:
    import mne
    from devices.eeg import open_eeg_file
    make = lambda: open_eeg_file(path)
t1 = time.perf_counter()
src = make()
src.open()
t2 = time.perf_counter()
src.start()
n = 0
while (f := src.read()) is not None:
    n += f.n_samples
t3 = time.perf_counter()
src.close()
print(json.dumps({"import_s": t1 - t0, "open_s": t2 - t1, "read_s": t3 - t2,
    "seconds": n / src.rate_hz, "source": type(src).__name__,
    "rss_mib": peak_mib()}))
"""


def write_recordings(folder: Path, minutes: float) -> dict[str, Path]:
    import mne
    import numpy as np

    names = mne.channels.make_standard_montage("colin27_1020").ch_names[:CHANNELS]
    n = int(minutes * 60 * RATE)
    data = np.random.default_rng(0).normal(0.0, 20e-6, (CHANNELS, n)).astype(np.float32)
    raw = mne.io.RawArray(data, mne.create_info(names, RATE, "eeg"), verbose="error")
    out = {}
    for i, suffix in enumerate(dict.fromkeys(s for _, s, _ in CASES)):
        path = folder / f"rec{i}{suffix}"  # own stems: a .vhdr's side files are counted with it
        if suffix.endswith(".fif"):
            raw.save(path, verbose="error")
        else:
            mne.export.export_raw(path, raw, verbose="error")
        out[suffix] = path
    return out


def size_mib(path: Path) -> float:
    """On-disk size of a recording with its side files (.eeg/.vmrk beside a .vhdr)."""
    stem = path.name.split(".")[0]
    return sum(p.stat().st_size for p in path.parent.glob(stem + ".*")) / 2**20


def installed_mib(names: list[str]) -> float:
    total = 0
    for name in names:
        dist = metadata.distribution(name)
        total += sum(f.size or 0 for f in dist.files or ())
    return total / 2**20


def requirements(name: str, skip: set[str]) -> list[str]:
    """`name` and every distribution it requires on this platform (no extras), less `skip`."""
    seen: list[str] = []
    todo = [name]
    while todo:
        cur = todo.pop()
        key = cur.lower().replace("_", "-")
        if key in skip or key in seen:
            continue
        seen.append(key)
        for text in metadata.requires(cur) or ():
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return seen


def main(quick: bool = False) -> None:
    minutes = 10.0 if quick else 60.0
    python = os.environ.get("BENCH_READER_PYTHON", sys.executable)
    rows, data = [], {"minutes": minutes, "channels": CHANNELS, "rate_hz": RATE, "cases": []}
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_recordings(Path(tmp), minutes)
        for case, suffix, reader in CASES:
            done = subprocess.run(
                [python, "-c", READ, str(paths[suffix]), reader],
                capture_output=True,
                text=True,
                check=True,
                env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)},
            )
            got = json.loads(done.stdout.strip().splitlines()[-1])
            got.update(case=case, file_mib=size_mib(paths[suffix]))
            data["cases"].append(got)
            rows.append(
                [
                    case,
                    got["source"],
                    f"{got['file_mib']:.0f} MiB",
                    f"{got['import_s']:.2f} s",
                    f"{got['open_s']:.2f} s",
                    f"{got['read_s']:.2f} s ({got['seconds'] / got['read_s']:,.0f}x real time)",
                    f"{got['rss_mib']:.0f} MiB",
                ]
            )
    base = {"numpy", "pip", "setuptools", "wheel"}
    mne_deps = requirements("mne", base)
    data["install_mib"] = {
        "mne_and_dependencies": installed_mib(mne_deps),
        "mne_dependencies": mne_deps,
        "pyedflib": installed_mib(["pyedflib"]),
    }
    notes = [
        f"Installed: MNE {metadata.version('mne')} with what it brings beyond NumPy "
        f"({', '.join(mne_deps)}): {data['install_mib']['mne_and_dependencies']:.0f} MiB; "
        f"pyedflib {metadata.version('pyedflib')}: {data['install_mib']['pyedflib']:.0f} MiB.",
        "Peak RSS is the whole interpreter (NumPy alone: about 25 MiB). An environment with numba "
        "installed (librosa pulls it in) loads it with MNE and adds about 90 MiB; the device's "
        "eeg extra does not install it.",
        "EEGLAB files whose data sit inside the .set (as mne.export writes them) are read whole "
        "by MNE (it cannot read them lazily); with a separate .fdt they are read in chunks.",
    ]
    report.write_table(
        "eeg_formats",
        f"EEG recording formats: {CHANNELS} channels at {RATE} Hz, {minutes:.0f} minutes",
        "python -m bench eeg_formats" + (" --quick" if quick else ""),
        machine(),
        "Each reader in a fresh interpreter, streaming 0.1 s frames as run eeg does"
        + (f" (readers under {python})." if python != sys.executable else "."),
        ["format (reader)", "source", "file", "import", "open", "read all", "peak RSS"],
        rows,
        data,
        notes,
    )


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)

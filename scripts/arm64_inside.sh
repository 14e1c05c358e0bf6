#!/usr/bin/env bash
# The arm64 side of `make arm64-check`, run by scripts/arm64_check.sh inside the Debian arm64 root
# (under qemu-user): the install a Raspberry Pi user makes, the device tests and the sample runs.
#   arm64_inside.sh EXTRAS TEST_PACKAGES EEG_FILE
set -euo pipefail
# What the compiled front end is built from: a change here rebuilds it (git archive stamps every
# file with the commit's time, so file times cannot tell).
front_end_hash() {
  find setup.py edge firmware_bridge -type f \( -name '*.pyx' -o -name '*.pxd' -o -path '*/c/*.[ch]' \) |
    LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-16
}
if [ "${1:-}" = --front-end-hash ]; then front_end_hash; exit 0; fi
EXTRAS=$1
TEST_PACKAGES=$2
EEG_FILE=$3
APP=/opt/affect-edge
VENV=$APP/venv
PY=$VENV/bin/python
export PIP_CACHE_DIR=/var/cache/affect-pip PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_PROGRESS_BAR=off
export PIP_ROOT_USER_ACTION=ignore
export OMP_NUM_THREADS=1 PATH=$VENV/bin:$PATH
cd "$APP/src"
say() { printf '[arm64 %4ds] %s\n' "$SECONDS" "$*"; }

say "$(uname -m), $(python3 --version), gcc $(gcc -dumpfullversion)"
[ -x "$PY" ] || python3 -m venv "$VENV"
# Reinstall when what pip resolves could change; otherwise only rebuild changed Cython modules.
want="$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16) [$EXTRAS] $TEST_PACKAGES"
if [ "$(cat "$VENV/.affect-edge-deps" 2>/dev/null)" != "$want" ]; then
  say "pip: build tools"
  "$PY" -m pip install -q --upgrade pip -c constraints.txt "setuptools>=77,<81" wheel "Cython>=3" "numpy>=1.26"
  # Wheels only for the compiled dependencies: a missing aarch64 wheel is an error here, not a
  # half-hour source build.
  say "pip: affect-edge[$EXTRAS] from PyPI's aarch64 wheels; the Cython front end with Debian's gcc"
  "$PY" -m pip install -q --only-binary=numpy,onnxruntime,ai-edge-litert,opencv-python-headless,scipy,soundfile,onnx \
    --no-build-isolation -c constraints.txt -e ".[$EXTRAS]" $TEST_PACKAGES
  echo "$want" > "$VENV/.affect-edge-deps"
  front_end_hash > .front-end-built  # the editable install built it in place, just now
fi
want=$(front_end_hash)
if [ "$(cat .front-end-built 2>/dev/null)" != "$want" ]; then
  say "build_ext --inplace --force: the Cython front end with Debian's gcc"
  "$PY" setup.py -q build_ext --inplace --force > /tmp/build_ext.log 2>&1 || {
    tail -20 /tmp/build_ext.log; exit 1; }
  echo "$want" > .front-end-built
fi
"$PY" - <<'EOF'
import platform
from importlib.metadata import version

import edge.dsp._logmel as k

print(f"  {platform.machine()}: {k.__file__.rsplit('/', 1)[1]}; " + ", ".join(
    f"{p} {version(p)}" for p in
    ("numpy", "onnxruntime", "ai-edge-litert", "opencv-python-headless", "soundfile", "Cython")))
EOF

say "device tests: pytest -m device"
tests=0
# LeakSanitizer cannot run under qemu-user (it needs ptrace-like access to the threads): the C
# codec's sanitizer test keeps AddressSanitizer and UBSan there, leak checks off.
export ASAN_OPTIONS=detect_leaks=0
# The marked files only: collecting the others would import what the device install lacks.
mapfile -t device_files < <(grep -l '^pytestmark = pytest.mark.device' tests/test_*.py)
"$PY" -m pytest -q -p no:cacheprovider -m "device and not slow" --hypothesis-profile emulated \
  "${device_files[@]}" || tests=$?

say "the three sample runs"
"$PY" scripts/arm64_capture.py "$APP/out" --eeg-recording "$APP/shared/data/eeg-openbci/$EEG_FILE" \
  > "$APP/out/stdout.txt"
affect-edge profiles show raspberry-pi-5 | head -14

# BrainFlow on arm64: its wheel installs (py3-none-any) but carries x86-64 libraries only.
say "BrainFlow: what its wheel carries, and a board source"
"$PY" -m pip install -q -c constraints.txt "brainflow>=5.10" "setuptools<81"
"$PY" - <<'EOF'
from importlib.metadata import version
from pathlib import Path

import brainflow

machines = {b"\x3e\x00": "x86-64", b"\xb7\x00": "aarch64", b"\x28\x00": "32-bit ARM"}
libs = sorted(Path(brainflow.__file__).parent.joinpath("lib").glob("*.so"))
kinds = sorted({machines.get(p.read_bytes()[18:20], "other") for p in libs})
print(f"  brainflow {version('brainflow')}: {len(libs)} .so files, machines: {', '.join(kinds)}")
EOF
board=0
affect-edge run eeg --board synthetic --seconds 1 > "$APP/out/board.txt" 2>&1 || board=$?
echo "  affect-edge run eeg --board synthetic: exit $board: $(tail -1 "$APP/out/board.txt")"
if [ "$board" -ne 2 ] || ! grep -q '^affect-edge: error: ' "$APP/out/board.txt"; then
  echo "  expected a one-line error (exit 2) for a BrainFlow board on arm64"; tests=1
fi
say "arm64 side done (device tests: exit $tests)"
exit "$tests"

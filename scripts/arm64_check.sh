#!/usr/bin/env bash
# make arm64-check: the device half on arm64 (a Debian 12 "bookworm" arm64 root under
# qemu-user-static), installed the way a Raspberry Pi user installs it, its device tests run
# there, and the three sample runs compared with the same runs on this x86 host.
#
# Cached under build/arm64/ (ARM64_WORK): the root (debootstrap, once), the .deb files, pip's
# wheel cache and the venv inside the root; a second run only re-copies changed sources,
# rebuilds changed Cython modules and runs the tests and the comparison.
# Needs root (debootstrap, chroot, mounts), debootstrap and qemu-user-static (the Makefile
# installs them), and the shared OpenBCI recording (AFFECT_EDGE_SHARED, default ../shared).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
WORK=${ARM64_WORK:-$REPO/build/arm64}
ROOT=$WORK/root
SUITE=bookworm
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
# What a Pi user installs with apt: Python 3.11 with venv and headers, a C compiler for the
# Cython front end, libsndfile (soundfile) and PortAudio (sounddevice).
APT_PACKAGES=ca-certificates,python3,python3-venv,python3-dev,gcc,libc6-dev,libsndfile1,libportaudio2
# The extras with aarch64 wheels (README, "On arm64"). Not eeg: BrainFlow installs, but its wheel
# carries x86-64 libraries only (arm64_inside.sh shows what happens); not fuzz (no atheris wheel).
EXTRAS=cli,litert,audio,camera,mqtt,web,bridge,systemd
# What the device tests need besides the device install (onnx: the tests' reference bundles).
TEST_PACKAGES="pytest>=8 hypothesis>=6.100 jsonschema>=4 scipy>=1.11 onnx"
SHARED=${AFFECT_EDGE_SHARED:-$REPO/../shared}
EEG_DIR=$SHARED/data/eeg-openbci
EEG_FILE=OpenBCI_GUI-v6-blinks-jawClench-alpha.txt
X86_PY=${X86_PYTHON:-$REPO/.venv/bin/python}
NICE=${ARM64_NICE:-nice -n 10}

say() { printf '[arm64-check %4ds] %s\n' "$SECONDS" "$*"; }
die() { printf 'arm64-check: error: %s\n' "$*" >&2; exit 2; }

[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, chroot and bind mounts); run: sudo make arm64-check"
command -v debootstrap >/dev/null || die "debootstrap is missing: apt-get install debootstrap"
QEMU=$(command -v qemu-aarch64-static) || die "qemu-aarch64-static is missing: apt-get install qemu-user-static"
[ -f "$EEG_DIR/$EEG_FILE" ] || die "$EEG_DIR/$EEG_FILE is missing (set AFFECT_EDGE_SHARED to the shared folder)"
[ -x "$X86_PY" ] || die "$X86_PY is missing: run make setup first (the x86 side of the comparison)"

# --- binfmt: the kernel hands aarch64 executables to qemu. The F flag opens the interpreter
# now, so it also works inside the chroot, where /usr/bin/qemu-aarch64-static does not exist.
BINFMT=/proc/sys/fs/binfmt_misc
if [ ! -e "$BINFMT/qemu-aarch64" ]; then
  [ -e "$BINFMT/register" ] || mount -t binfmt_misc binfmt_misc "$BINFMT" 2>/dev/null ||
    die "cannot mount $BINFMT (a container without the privilege?): register qemu-aarch64 on the host (apt-get install qemu-user-static binfmt-support) and rerun"
  CONF=/usr/lib/binfmt.d/qemu-aarch64.conf
  [ -f "$CONF" ] || die "$CONF is missing: apt-get install qemu-user-static"
  cat "$CONF" > "$BINFMT/register" || die "could not register $CONF with binfmt_misc"
  say "registered qemu-aarch64 with binfmt_misc"
fi
grep -q '^flags:.*F' "$BINFMT/qemu-aarch64" ||
  die "qemu-aarch64 is registered without the F flag: aarch64 programs cannot start inside a chroot; re-register from /usr/lib/binfmt.d/qemu-aarch64.conf"
grep -q '^enabled' "$BINFMT/qemu-aarch64" || die "binfmt entry qemu-aarch64 is disabled: echo 1 > $BINFMT/qemu-aarch64"

# --- the root: debootstrap's first stage (downloads and unpacks, native) and second stage
# (configures the packages, emulated). The .deb files are kept for a rebuild.
mkdir -p "$WORK/debs" "$WORK/pip-cache"
rm -rf "$WORK/out-x86" "$WORK/out-arm64"
mkdir -p "$WORK/out-x86" "$WORK/out-arm64"
if [ ! -f "$ROOT/.affect-edge-root" ]; then
  if [ ! -x "$ROOT/debootstrap/debootstrap" ]; then
    say "debootstrap first stage: Debian $SUITE arm64 from $MIRROR"
    rm -rf "$ROOT"
    debootstrap --arch=arm64 --foreign --variant=minbase --cache-dir="$WORK/debs" \
      --include="$APT_PACKAGES" "$SUITE" "$ROOT" "$MIRROR" > "$WORK/debootstrap.log" 2>&1 ||
      die "debootstrap first stage failed; see $WORK/debootstrap.log"
  fi
  say "debootstrap second stage (under emulation)"
  $NICE unshare --mount --propagation private chroot "$ROOT" /debootstrap/debootstrap --second-stage \
    >> "$WORK/debootstrap.log" 2>&1 || die "debootstrap second stage failed; see $WORK/debootstrap.log (rm -rf $ROOT to start over)"
  echo "$SUITE arm64: $APT_PACKAGES" > "$ROOT/.affect-edge-root"
  say "root ready: $(chroot "$ROOT" uname -m), $(chroot "$ROOT" python3 --version)"
fi
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
# pip inside trusts what pip here trusts (here: a TLS-intercepting proxy's CA in the host bundle).
HOST_CA=${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}
cp "$HOST_CA" "$ROOT/etc/ssl/certs/host-ca-bundle.crt" 2>/dev/null ||
  cp "$ROOT/etc/ssl/certs/ca-certificates.crt" "$ROOT/etc/ssl/certs/host-ca-bundle.crt"

# --- the sources: this checkout's HEAD, as a fresh clone has it (uncommitted edits are not
# checked), unpacked for both sides. Nothing is written into this checkout but build/.
REV=$(git rev-parse --short HEAD)
git archive --format=tar HEAD > "$WORK/src.tar"
X86_SRC=$WORK/x86/src
for dest in "$ROOT/opt/affect-edge/src" "$X86_SRC"; do
  mkdir -p "$dest" && tar -C "$dest" -xf "$WORK/src.tar"
done
say "sources: $REV ($(tar -tf "$WORK/src.tar" | grep -vc '/$') files)"

# --- the x86 side: the same three runs, this checkout's .venv on the snapshot (its own in-place
# build of the compiled front end; PYTHONPATH puts it before the editable install of the checkout).
say "x86: build the front end (what changed) and the three runs"
(
  cd "$X86_SRC"
  want=$(bash scripts/arm64_inside.sh --front-end-hash)
  if [ "$(cat .front-end-built 2>/dev/null)" != "$want" ]; then
    $NICE "$X86_PY" setup.py -q build_ext --inplace --force > "$WORK/x86-build.log" 2>&1 ||
      die "the x86 build failed; see $WORK/x86-build.log"
    echo "$want" > .front-end-built
  fi
  PYTHONPATH=$X86_SRC OMP_NUM_THREADS=1 $NICE "$X86_PY" scripts/arm64_capture.py "$WORK/out-x86" \
    --eeg-recording "$EEG_DIR/$EEG_FILE" > "$WORK/out-x86/stdout.txt"
) || die "the x86 runs failed; see above"

# --- inside: everything under one private mount namespace, so no mount outlives the run.
say "arm64: install, build, device tests, the three runs (under emulation)"
set +e
$NICE unshare --mount --propagation private bash -euo pipefail -c '
  ROOT=$1; WORK=$2; EEG_DIR=$3
  mount -t proc proc "$ROOT/proc"
  mount --rbind /dev "$ROOT/dev"
  # No sysfs: with the host'"'"'s /sys, ONNX Runtime'"'"'s cpuinfo crashes under qemu at import;
  # without it, it warns that it cannot read the CPU list and runs.
  mkdir -p "$ROOT/var/cache/affect-pip" "$ROOT/opt/affect-edge/out" "$ROOT/opt/affect-edge/shared/data/eeg-openbci"
  mount --bind "$WORK/pip-cache" "$ROOT/var/cache/affect-pip"
  mount --bind "$WORK/out-arm64" "$ROOT/opt/affect-edge/out"
  mount --bind "$EEG_DIR" "$ROOT/opt/affect-edge/shared/data/eeg-openbci"
  mount -o remount,bind,ro "$ROOT/opt/affect-edge/shared/data/eeg-openbci"
  shift 3
  exec chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
    PIP_CERT=/etc/ssl/certs/host-ca-bundle.crt "$@"
' _ "$ROOT" "$WORK" "$EEG_DIR" \
  bash /opt/affect-edge/src/scripts/arm64_inside.sh "$EXTRAS" "$TEST_PACKAGES" "$EEG_FILE"
inside=$?
set -e
[ -f "$WORK/out-arm64/platform.json" ] || die "the arm64 side made no runs (exit $inside); see above"

# --- equality.
say "x86 vs arm64"
set +e
"$X86_PY" "$X86_SRC/scripts/arm64_compare.py" "$WORK/out-x86" "$WORK/out-arm64" | tee "$WORK/equality.md"
equal=${PIPESTATUS[0]}
set -e
say "done in ${SECONDS}s: arm64 side exit $inside, comparison exit $equal"
[ "$inside" -eq 0 ] && [ "$equal" -eq 0 ]

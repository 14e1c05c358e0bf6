#!/usr/bin/env bash
# Install Debian packages that pip cannot provide (e.g. libportaudio2 for sounddevice), only
# where missing. Without root or apt it says what to install by hand and carries on, so that
# the pure-Python parts still build.
set -u
missing=()
for pkg in "$@"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "note: no apt-get here; install these system libraries by hand: ${missing[*]}" >&2
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"; else
    echo "note: not root; run: sudo apt-get install ${missing[*]}" >&2
    exit 0
  fi
fi
echo "installing system packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null 2>&1 || {
  $sudo apt-get update -q >/dev/null 2>&1
  # One by one, so a package this distribution lacks does not stop the others.
  for pkg in "${missing[@]}"; do
    $sudo apt-get install -y -q --no-install-recommends "$pkg" >/dev/null 2>&1 || \
      echo "note: could not install $pkg; tests that need it will skip" >&2
  done
}
exit 0

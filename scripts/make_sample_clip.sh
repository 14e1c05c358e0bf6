#!/usr/bin/env bash
# Rebuild edge/data/samples/speech_en.wav with eSpeak NG and SoX (apt: espeak-ng sox).
set -euo pipefail
out="$(dirname "$0")/../edge/data/samples/speech_en.wav"
tmp=$(mktemp -d)
espeak-ng -v en-gb -s 150 -w "$tmp/calm.wav" "Hello. This is affect edge, listening on the device itself."
espeak-ng -v en-gb -s 190 -p 75 -a 180 -w "$tmp/excited.wav" "Wow, this is really exciting!"
sox "$tmp/calm.wav" "$tmp/excited.wav" "$out"
rm -r "$tmp"
echo "wrote $out"

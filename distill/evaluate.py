"""The speech evaluation every teacher and student is judged by, with two anchors beside them.

Per corpus and never splitting a speaker's utterances:
- CCC of arousal, dominance, valence against the emotions placed on the circumplex
  (`distill.circumplex`);
- arousal AUC: anger, happiness, fear, surprise (high) against sadness, neutral, calm, boredom (low);
- valence AUC: happiness against anger, sadness, fear, disgust.

Anchors, trained and scored fold by fold on the same speaker-disjoint folds:
- loudness: the mean energy of the voiced frames (dB; the device's own front end and voice gate);
  its CCC rows come from a linear fit of loudness to each dimension on the training speakers;
- logistic regression on log-mel statistics (mean and standard deviation of each band over the
  voiced frames) plus pitch (median, spread and range of log F0 over voiced frames, librosa's YIN):
  one binary classifier per AUC, and ridge regression for the CCC rows.

Probes, where their weights are installed: the same logistic and ridge regressions on the
top-layer features of a pretrained GE2E speaker encoder (`distill/teachers/ge2e.py`, weights from
the resemblyzer wheel) and on Whisper-base encoder layers 2 and 3 (`distill/teachers/whisper.py`),
to judge a backbone before any teacher is trained on it.

Corpora: EmoDB (German), RAVDESS (English) and nEMO (Polish), whichever ../shared holds.
Folds: EmoDB and nEMO leave one speaker out; RAVDESS leaves out a male-female pair of actors
(01+02, 03+04, ...). Leave-one-corpus-out rows fit on the other corpora (each weighing the same)
and score the third. `HELD_OUT` speakers (EmoDB 10, RAVDESS 11 and 12, nEMO MK0 and WR0) are
reported apart: no choice of teacher, student or recipe may be made on them.

A bundle is scored on the device path: each file streamed through `SpeechPipeline` (its int8
model by default), the utterance's value the mean of its updated events.
"""

from __future__ import annotations

import csv
import hashlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from devices.audio import read_audio
from distill.circumplex import ALIASES, adv_of
from distill.features import SPEECH_SPEC
from distill.metrics import ccc
from edge.errors import ConfigError
from edge.frontends.speech import voiced_features

log = logging.getLogger(__name__)
ADV = ("arousal", "dominance", "valence")
HIGH_AROUSAL = frozenset({"anger", "happiness", "fear", "surprise"})
LOW_AROUSAL = frozenset({"sadness", "neutral", "calm", "boredom"})
POSITIVE = frozenset({"happiness"})
NEGATIVE = frozenset({"anger", "sadness", "fear", "disgust"})
CORPORA = {
    "emodb": ("emodb-train", "wav"),
    "ravdess": ("ravdess-train", "audio"),
    "nemo": ("nemo-train", "audio"),
}
#: Speakers no choice is made on: scored apart, for the record (nEMO: the last female and the last
#: male actor by id, fixed before any figure was seen).
HELD_OUT = {"emodb": ("10",), "ravdess": ("11", "12"), "nemo": ("MK0", "WR0")}
#: Rows of a corpus's labels.csv kept (every n-th) by `read_corpus`: none thinned since the Whisper
#: backbone was measured at about 1 s of one core per 30 s window (all 4,481 nEMO utterances).
STRIDE: dict[str, int] = {}


@dataclass(frozen=True)
class Corpus:
    name: str
    files: tuple[Path, ...]
    speakers: tuple[str, ...]
    emotions: tuple[str, ...]

    @property
    def targets(self) -> np.ndarray:
        return np.stack([adv_of(e) for e in self.emotions])

    def subset(self, keep: np.ndarray) -> Corpus:
        idx = np.flatnonzero(keep)
        return Corpus(
            self.name,
            tuple(self.files[i] for i in idx),
            tuple(self.speakers[i] for i in idx),
            tuple(self.emotions[i] for i in idx),
        )


def read_labelled(root: Path, audio: str, name: str) -> Corpus:
    """A corpus folder holding labels.csv (file, speaker, emotion columns) and its audio folder."""
    table = Path(root) / "labels.csv"
    if not table.is_file():
        raise ConfigError(f"{root} has no labels.csv (expected a labelled corpus folder)")
    with table.open() as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    missing = [c for c in ("file", "speaker", "emotion") if c not in (reader.fieldnames or ())]
    if missing:
        raise ConfigError(
            f"{table} has no {', '.join(missing)} column(s) (its columns: "
            f"{', '.join(reader.fieldnames or ()) or 'none'}); it needs file, speaker and emotion"
        )
    return Corpus(
        name,
        tuple(Path(root) / audio / r["file"] for r in rows),
        tuple(r["speaker"] for r in rows),
        tuple(ALIASES.get(r["emotion"], r["emotion"]) for r in rows),
    )


def read_corpus(shared: Path, name: str, full: bool = False) -> Corpus:
    """A labelled corpus of ../shared/data by name: every row of its labels.csv, or every
    `STRIDE[name]`-th row where `STRIDE` thins a corpus and not `full`."""
    if name not in CORPORA:
        raise ConfigError(f"unknown corpus {name!r}; known: {sorted(CORPORA)}")
    folder, audio = CORPORA[name]
    corpus = read_labelled(Path(shared) / "data" / folder, audio, name)
    stride = 1 if full else STRIDE.get(name, 1)
    return corpus.subset(np.arange(len(corpus.files)) % stride == 0) if stride > 1 else corpus


def all_but(shared: Path, held_out: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    """Every speaker of each corpus `held_out` names except the held-out ones: what a bundle
    trained on all but the held-out speakers of those corpora has heard."""
    return {
        name: tuple(sorted(set(read_corpus(shared, name).speakers) - set(held_out[name])))
        for name in CORPORA
        if name in held_out
    }


@dataclass(frozen=True)
class Pooled:
    """Both corpora as one set for the two-corpus teachers: speakers as "corpus/id", the held-out
    ones marked, and the five folds over the rest (fold i leaves out EmoDB speaker i, if any,
    and RAVDESS actors 2i+1 and 2i+2)."""

    corpora: tuple[Corpus, ...]
    files: tuple[Path, ...]
    speakers: np.ndarray
    corpus_of: np.ndarray
    held: np.ndarray
    targets: np.ndarray
    folds: tuple[tuple[str, ...], ...]

    def rows(self, predicted: np.ndarray, mask: np.ndarray, protocol: str) -> list[dict]:
        """The figures per corpus of (files, 3) utterance predictions over the files in `mask`."""
        out = []
        for c in self.corpora:
            m = mask & (self.corpus_of == c.name)
            sub = c.subset(m[self.corpus_of == c.name])
            out.append({"corpus": c.name, "protocol": protocol, **figures(sub, predicted[m])})
        return out


def pooled(shared: Path) -> Pooled:
    corpora = tuple(read_corpus(shared, name) for name in ("emodb", "ravdess"))
    files, speakers, corpus_of = [], [], []
    for c in corpora:
        files += c.files
        speakers += [f"{c.name}/{s}" for s in c.speakers]
        corpus_of += [c.name] * len(c.files)
    spk = np.array(speakers)
    held = np.array([s.split("/")[1] in HELD_OUT[s.split("/")[0]] for s in spk])
    emodb = sorted({str(s) for s in spk[~held] if s.startswith("emodb/")})
    ravdess = sorted({str(s) for s in spk[~held] if s.startswith("ravdess/")})
    folds = tuple(
        tuple(([emodb[i]] if i < len(emodb) else []) + ravdess[2 * i : 2 * i + 2])
        for i in range((len(ravdess) + 1) // 2)
    )
    targets = np.concatenate([c.targets for c in corpora])
    return Pooled(corpora, tuple(files), spk, np.array(corpus_of), held, targets, folds)


def speaker_folds(corpus: Corpus) -> list[tuple[str, ...]]:
    """Test-speaker groups: one speaker each for EmoDB and nEMO; male-female actor pairs for
    RAVDESS."""
    speakers = sorted(set(corpus.speakers))
    if corpus.name == "ravdess":
        return [tuple(speakers[i : i + 2]) for i in range(0, len(speakers), 2)]
    return [(s,) for s in speakers]


def auc(scores: np.ndarray, positive: np.ndarray, negative: np.ndarray) -> float:
    """P(score of a positive > score of a negative), ties counting half (Mann-Whitney)."""
    a, b = scores[positive], scores[negative]
    if not len(a) or not len(b):
        return float("nan")
    return float(np.mean(a[:, None] > b[None, :]) + 0.5 * np.mean(a[:, None] == b[None, :]))


def masks(emotions: tuple[str, ...]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    e = np.array(emotions)
    return {
        "arousal": (np.isin(e, list(HIGH_AROUSAL)), np.isin(e, list(LOW_AROUSAL))),
        "valence": (np.isin(e, list(POSITIVE)), np.isin(e, list(NEGATIVE))),
    }


def figures(corpus: Corpus, predicted: np.ndarray, arousal_score=None, valence_score=None) -> dict:
    """CCC per dimension and the two AUCs of utterance-level predictions (n, 3)."""
    m = masks(corpus.emotions)
    a = predicted[:, 0] if arousal_score is None else arousal_score
    v = predicted[:, 2] if valence_score is None else valence_score
    return {
        "n": len(corpus.files),
        "speakers": len(set(corpus.speakers)),
        "ccc": dict(zip(ADV, map(float, ccc(corpus.targets, predicted)), strict=True)),
        "arousal_auc": auc(a, *m["arousal"]),
        "valence_auc": auc(v, *m["valence"]),
    }


# --- the anchors' features ----------------------------------------------------------------------
def utterance_features(path: Path) -> dict[str, Any]:
    """Loudness of the voiced frames, log-mel statistics over them, and pitch statistics."""
    import librosa

    x, rate = read_audio(path)
    frames, energy, voiced = voiced_features(x[0], rate, SPEECH_SPEC)
    if not voiced.any():  # nothing passed the gate: use every frame rather than none
        voiced = np.ones_like(voiced)
    loud_db = float(np.mean(energy[voiced]) * 10.0 / np.log(10.0))
    stats = np.concatenate([frames[voiced].mean(axis=0), frames[voiced].std(axis=0)])
    wave16 = librosa.resample(x[0].astype(np.float64), orig_sr=rate, target_sr=16000)
    f0 = librosa.yin(wave16, fmin=60.0, fmax=400.0, sr=16000, frame_length=1024, hop_length=160)
    n = min(len(f0), len(voiced))
    pitched = f0[:n][voiced[:n] & (f0[:n] > 61.0) & (f0[:n] < 399.0)]
    logf = np.log(pitched) if len(pitched) >= 3 else np.log(np.full(3, 150.0))
    pitch = np.array(
        [np.median(logf), logf.std(), np.percentile(logf, 90) - np.percentile(logf, 10)]
    )
    return {"loudness_db": loud_db, "vector": np.concatenate([stats, pitch])}


def corpus_features(
    corpus: Corpus, progress: Callable[[], None] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    loud, vec = [], []
    for path in corpus.files:
        f = utterance_features(path)
        loud.append(f["loudness_db"])
        vec.append(f["vector"])
        if progress:
            progress()
    return np.asarray(loud), np.stack(vec)


#: A pretrained backbone probed as the anchors are: is it worth a teacher's while?
GE2E_PROBE = "probe: logistic regression, pretrained GE2E encoder (resemblyzer)"


def backbone_available() -> bool:
    """Whether the GE2E weights (resemblyzer wheel) and torch are installed."""
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("resemblyzer", "torch"))


def backbone_features(corpus: Corpus, progress: Callable[[], None] | None = None) -> np.ndarray:
    """(n, 256) top-layer GE2E features per utterance (distill/teachers/ge2e.py)."""
    from distill.teachers.ge2e import HIDDEN, Ge2eEncoder

    encoder = Ge2eEncoder()
    out = []
    for path in corpus.files:
        x, rate = read_audio(path)
        out.append(encoder.features(x[0], rate)[HIDDEN])
        if progress:
            progress()
    return np.stack(out)


def _splits(corpus: Corpus) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    speakers = np.array(corpus.speakers)
    for group in speaker_folds(corpus):
        test = np.isin(speakers, group)
        yield ~test, test


def _fit_predict(x_train, y_train, x_test, kind: str, weight=None) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.preprocessing import StandardScaler

    fit = {} if weight is None else {"model__sample_weight": weight / weight.mean()}
    if kind == "logistic":
        model = _pipeline([StandardScaler(), LogisticRegression(C=1.0, max_iter=2000)])
        model.fit(x_train, y_train, **fit)
        return model.predict_proba(x_test)[:, 1]
    model = _pipeline([StandardScaler(), Ridge(alpha=10.0)])
    model.fit(x_train, y_train, **fit)
    return np.clip(model.predict(x_test), 0.0, 1.0)


def _pipeline(steps):
    """StandardScaler then the model, the last step named "model" (for sample weights)."""
    from sklearn.pipeline import Pipeline

    return Pipeline([("scale", steps[0]), ("model", steps[1])])


def anchor_predictions(
    train: Corpus,
    x_train: np.ndarray,
    test: Corpus,
    x_test: np.ndarray,
    kind: str,
    weight: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(A/D/V predictions, arousal score, valence score) on `test` from models fit on `train`.

    kind "loudness": x is the loudness (n,); linear fits for A/D/V, loudness itself as both scores.
    kind "logreg": x is the statistics vector; ridge for A/D/V, logistic regressions for the AUCs.
    `weight`: per training utterance (leave-one-corpus-out rows weight each corpus equally).
    """
    y = train.targets
    if kind == "loudness":
        w = None if weight is None else np.sqrt(weight)
        pred = np.stack(
            [
                np.clip(np.polyval(np.polyfit(x_train, y[:, k], 1, w=w), x_test), 0, 1)
                for k in range(3)
            ],
            axis=1,
        )
        return pred, x_test, x_test
    pred = np.stack(
        [_fit_predict(x_train, y[:, k], x_test, "ridge", weight) for k in range(3)], axis=1
    )
    m = masks(train.emotions)
    scores = []
    for dim in ("arousal", "valence"):
        pos, neg = m[dim]
        keep = pos | neg
        scores.append(
            _fit_predict(
                x_train[keep],
                pos[keep].astype(int),
                x_test,
                "logistic",
                None if weight is None else weight[keep],
            )
        )
    return pred, scores[0], scores[1]


def cross_validated(
    corpus: Corpus, x: np.ndarray, kind: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Anchor predictions for every utterance, each from a model that never heard its speaker."""
    pred, a, v = (
        np.zeros((len(corpus.files), 3)),
        np.zeros(len(corpus.files)),
        np.zeros(len(corpus.files)),
    )
    for train, test in _splits(corpus):
        p, sa, sv = anchor_predictions(
            corpus.subset(train), x[train], corpus.subset(test), x[test], kind
        )
        pred[test], a[test], v[test] = p, sa, sv
    return pred, a, v


# --- bundles on the device path -------------------------------------------------------------------
def bundle_predictions(
    bundle, corpus: Corpus, precision: str | None = None, progress=None
) -> np.ndarray:
    """Utterance-level A/D/V of a speech bundle: each file streamed through the device pipeline."""
    from devices.audio import AudioFileSource
    from edge.pipelines.speech import SpeechPipeline
    from edge.stream import EventList, run

    out = np.zeros((len(corpus.files), 3))
    pipes: dict[int, SpeechPipeline] = {}
    for i, path in enumerate(corpus.files):
        with AudioFileSource(path, block_s=0.01, mono=True) as src:
            rate = int(src.rate_hz)
            if rate not in pipes:
                pipes[rate] = SpeechPipeline(
                    bundle, input_rate_hz=rate, precision=precision, smoothing=1.0
                )
            pipe = pipes[rate]
            pipe.reset()
            seen = EventList()
            # No signal handling here: Ctrl-C ends the whole evaluation, not one file.
            run(src, pipe, (seen,), signals=False)
            events = seen.events
        values = [[e.values[k] for k in ADV] for e in events if e.updated] or [
            [e.values[k] for k in ADV] for e in events if e.values
        ]
        out[i] = np.mean(values, axis=0) if values else 0.5
        if progress:
            progress()
    for pipe in pipes.values():
        pipe.close()
    return out


def rows_for(name: str, corpus: Corpus, protocol: str, pred, a=None, v=None) -> dict:
    return {
        "model": name,
        "corpus": corpus.name,
        "protocol": protocol,
        **figures(corpus, pred, a, v),
    }


def cached(kind: str, corpus: Corpus, compute: Callable[[], Any], cache: Path | None) -> Any:
    """`compute()` of a corpus's files, kept in `cache` (build/cache/speech-eval) under a key of
    what made it: the kind of feature and the files (corpus folder, name, size)."""
    import hashlib
    import json
    import pickle

    if cache is None:
        return compute()
    what = [kind, *((f.parent.parent.name, f.name, f.stat().st_size) for f in corpus.files)]
    key = hashlib.sha256(json.dumps(what).encode()).hexdigest()[:16]
    path = Path(cache) / f"{kind}-{corpus.name}-{key}.pkl"
    if path.is_file():
        return pickle.loads(path.read_bytes())
    value = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.with_suffix(".tmp").write_bytes(pickle.dumps(value))
    path.with_suffix(".tmp").replace(path)
    return value


#: The Whisper-base backbone probed as GE2E is (distill/teachers/whisper.py), per layer tried.
WHISPER_PROBE = "probe: logistic regression, Whisper-base encoder layer {}"


def corpus_weights(corpus_of: np.ndarray) -> np.ndarray:
    """Per-utterance weights giving every corpus the same total (nEMO must not drown the others)."""
    names, counts = np.unique(corpus_of, return_counts=True)
    per = dict(zip(names, 1.0 / counts, strict=True))
    return np.array([per[c] for c in corpus_of])


def join(corpora: list[Corpus], name: str) -> Corpus:
    return Corpus(
        name,
        tuple(f for c in corpora for f in c.files),
        tuple(f"{c.name}/{s}" for c in corpora for s in c.speakers),
        tuple(e for c in corpora for e in c.emotions),
    )


def probe_rows(
    label: str, corpora: dict[str, Corpus], by_corpus: dict[str, np.ndarray]
) -> list[dict]:
    """One probe (or anchor) on every corpus: leave speakers out (held-out speakers apart, scored
    by the model fit on every other speaker of their corpus) and leave one corpus out (fit on the
    other corpora's speakers, corpora weighted equally, held-out speakers in neither side)."""
    rows = []
    kept = {}
    for name, corpus in corpora.items():
        x = by_corpus[name]
        kind = "loudness" if x.ndim == 1 else "logreg"
        held = np.isin(corpus.speakers, HELD_OUT[name])
        kept[name] = (corpus.subset(~held), x[~held])
        pred, a, v = cross_validated(corpus, x, kind)
        for mask, protocol in ((~held, "leave speakers out"), (held, "held-out speakers")):
            rows.append(
                rows_for(label, corpus.subset(mask), protocol, pred[mask], a[mask], v[mask])
            )
    if len(corpora) > 2:
        for name in corpora:
            others = [n for n in corpora if n != name]
            train = join([kept[n][0] for n in others], "+".join(others))
            x_train = np.concatenate([kept[n][1] for n in others])
            corpus_of = np.concatenate([[n] * len(kept[n][0].files) for n in others])
            test, x_test = kept[name]
            kind = "loudness" if x_train.ndim == 1 else "logreg"
            p, a, v = anchor_predictions(
                train, x_train, test, x_test, kind, corpus_weights(corpus_of)
            )
            protocol = f"leave corpus out: trained on {' + '.join(others)}"
            rows.append(rows_for(label, test, protocol, p, a, v))
    return rows


def evaluate(
    shared: Path,
    bundles: dict[str, Any] | None = None,
    progress=None,
    cache: Path | None = None,
    backbones: bool = True,
) -> dict:
    """The whole table: anchors and backbone probes per corpus (speaker-disjoint folds, the
    held-out speakers, each corpus left out), and bundles on every corpus (the speakers they never
    heard, the held-out ones apart). `cache`: where corpus features are kept between runs."""
    corpora = {
        name: read_corpus(shared, name)
        for name, (folder, _) in CORPORA.items()
        if (Path(shared) / "data" / folder / "labels.csv").is_file()
    }
    rows = []
    feats = {}
    for name, corpus in corpora.items():
        tick = progress(f"anchor features ({name})", len(corpus.files)) if progress else None
        feats[name] = cached(
            "anchors", corpus, lambda c=corpus, t=tick: corpus_features(c, t), cache
        )
    probes = {
        "anchor: loudness of voiced frames": {n: f[0] for n, f in feats.items()},
        "anchor: logistic regression, log-mel stats + pitch": {n: f[1] for n, f in feats.items()},
    }
    if backbones and backbone_available():
        probes[GE2E_PROBE] = {
            name: cached(
                "ge2e-top",
                corpus,
                lambda c=corpus, n=name: backbone_features(
                    c, progress(f"GE2E features ({n})", len(c.files)) if progress else None
                ),
                cache,
            )
            for name, corpus in corpora.items()
        }
    from distill.teachers import whisper

    if backbones and whisper.available():
        layers = {}
        for name, corpus in corpora.items():
            tick = progress(f"Whisper features ({name})", len(corpus.files)) if progress else None
            for layer, x in whisper.cached_features(corpus.files, progress=tick).items():
                layers.setdefault(layer, {})[name] = x
        for layer, by_corpus in sorted(layers.items(), key=lambda kv: -kv[0]):
            probes[WHISPER_PROBE.format(layer)] = by_corpus
    for label, by_corpus in probes.items():
        # keyed by the features themselves (and the corpora's files, as `cached` keys them)
        digest = hashlib.sha256(label.encode())
        for name in sorted(by_corpus):
            digest.update(np.ascontiguousarray(by_corpus[name]).tobytes())
        rows += cached(
            f"probe-rows-{digest.hexdigest()[:16]}",
            join(list(corpora.values()), "all"),
            lambda b=by_corpus, lab=label: probe_rows(lab, corpora, b),
            cache,
        )
    for label, (bundle, seen) in (bundles or {}).items():
        for name, corpus in corpora.items():
            tick = progress(f"{label} on {name}", len(corpus.files)) if progress else None
            # keyed by the model files' hashes: a bundle judged before is not streamed again
            models = "+".join(sorted(m.sha256[:16] for m in bundle.manifest.models))
            pred = cached(
                f"bundle-{hashlib.sha256(models.encode()).hexdigest()[:16]}",
                corpus,
                lambda b=bundle, c=corpus, t=tick: bundle_predictions(b, c, progress=t),
                cache,
            )
            unseen = ~np.isin(corpus.speakers, seen.get(name, ()))
            held = np.isin(corpus.speakers, HELD_OUT[name])
            protocol = (
                "speakers it never heard"
                if name in seen
                else "cross-corpus: never heard this corpus"
            )
            keep = unseen & ~held
            if keep.any():
                rows.append(rows_for(label, corpus.subset(keep), protocol, pred[keep]))
            if (unseen & held).any():
                rows.append(
                    rows_for(
                        label,
                        corpus.subset(unseen & held),
                        "held-out speakers",
                        pred[unseen & held],
                    )
                )
    return {"rows": rows, "held_out": HELD_OUT, "stride": STRIDE}

"""The event record's compiled helpers (edge/pipelines/_record.pyx) give what Python gives."""

from __future__ import annotations

import math

import numpy as np
from edge.pipelines._record import make_event, round_to, rounded, softmax_levels

from edge.events import AffectEvent


def _same(a: float, b: float) -> bool:
    return (a == b and math.copysign(1.0, a) == math.copysign(1.0, b)) or (a != a and b != b)


def test_round_to_is_pythons_round_on_halves_and_their_neighbours():
    rng = np.random.default_rng(0)
    for digits in (1, 3, 4):
        k = rng.integers(-(10**7), 10**7, 20_000)
        halves = (k + 0.5) / 10**digits
        values = np.concatenate(
            [
                halves,
                np.nextafter(halves, np.inf),
                np.nextafter(halves, -np.inf),
                k / 10**digits,
                rng.standard_normal(20_000) * 10.0 ** rng.integers(-6, 9, 20_000),
            ]
        ).tolist()
        values += [0.0, -0.0, -1e-9, 5e-324, 1e300, -2.5e15, math.nan, math.inf, -math.inf]
        assert all(_same(round_to(v, digits), round(v, digits)) for v in values)
    assert rounded(("a", "b"), [0.123456, -0.00004], 4) == {"a": 0.1235, "b": -0.0}


def test_make_event_equals_the_dataclass():
    fields = dict(
        modality="eeg",
        source="s",
        model="m",
        model_version="1.0",
        start_s=1.5,
        end_s=2.5,
        values={"level": 3.0},
        updated=True,
        quality={"ok": True},
        latency_ms={"total": 0.1},
        subject=None,
        seq=7,
    )
    made = make_event(AffectEvent, *fields.values())
    assert made == AffectEvent(**fields) and made.to_dict() == AffectEvent(**fields).to_dict()


def test_softmax_levels_is_the_python_softmax_to_the_bit():
    rng = np.random.default_rng(1)
    names = ("level_1", "level_2", "level_3", "level_4", "level_5")
    for row in (rng.standard_normal((2000, 5)) * 10.0 ** rng.integers(-3, 2, (2000, 1))).astype(
        np.float32
    ):
        y = row.tolist()
        z = [math.exp(v - max(y)) for v in y]
        p = [v / sum(z) for v in z]
        want = dict(zip(names, p, strict=True))
        want["level"] = sum(q * (i + 1) for i, q in enumerate(p))
        got = softmax_levels(row, names)
        assert list(got) == list(want) and all(got[k] == want[k] for k in want)

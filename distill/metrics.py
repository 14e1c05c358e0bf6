"""Agreement metrics: concordance correlation (CCC) for A/D/V, top-1 agreement and KL for classes.

CCC (Lin, 1989) = 2 cov(x, y) / (var x + var y + (mean x - mean y)^2), with population
(1/n) statistics throughout, computed over a whole set, per output dimension.
"""

from __future__ import annotations

import numpy as np


def ccc(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """CCC per column of two (n, d) arrays (or one value for two vectors); 0 where undefined."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    squeeze = x.ndim == 1
    x, y = np.atleast_2d(x.T).T, np.atleast_2d(y.T).T
    mx, my = x.mean(axis=0), y.mean(axis=0)
    vx, vy = x.var(axis=0), y.var(axis=0)
    cov = ((x - mx) * (y - my)).mean(axis=0)
    denom = vx + vy + (mx - my) ** 2
    out = np.divide(2 * cov, denom, out=np.zeros_like(denom), where=denom > 0)
    return out[0] if squeeze else out


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def top1_agreement(logits_a: np.ndarray, logits_b: np.ndarray) -> float:
    return float(np.mean(np.argmax(logits_a, axis=-1) == np.argmax(logits_b, axis=-1)))


def top1_ties(logits_ref: np.ndarray, logits_got: np.ndarray) -> tuple[float, float]:
    """(share of rows whose largest `got` score several classes share, share of rows whose
    reference top-1 is among `got`'s largest). Int8 outputs round close scores to the same step,
    and an argmax then takes the first: the second figure says how often the quantised model
    still ranks the reference's class first, ties included."""
    top = logits_got.max(axis=-1, keepdims=True)
    at_top = logits_got == top
    tied = at_top.sum(axis=-1) > 1
    ref_top = np.argmax(logits_ref, axis=-1)
    among = np.take_along_axis(at_top, ref_top[..., None], axis=-1)[..., 0]
    return float(np.mean(tied)), float(np.mean(among))


def mean_kl(logits_p: np.ndarray, logits_q: np.ndarray) -> float:
    """Mean KL(softmax p || softmax q) over rows, in nats."""
    p, q = softmax(logits_p), softmax(logits_q)
    return float(np.mean(np.sum(p * (np.log(p + 1e-12) - np.log(q + 1e-12)), axis=-1)))

"""Drift verification: every exported artifact against the float torch model on held-out inputs.

Artifacts run through the same engines a device uses (`edge.runtime.engines`), one thread, one
example per call. Figures per file: max and mean absolute error, CCC per output (regression) or
top-1 agreement and KL (classes), latency p50/p99 in its runtime, and file bytes.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from distill.metrics import ccc, mean_kl, top1_agreement, top1_ties
from edge.runtime import Bundle
from edge.runtime.engines import ENGINES


def float_reference(module: torch.nn.Module, heldout: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return module.eval()(torch.from_numpy(heldout)).numpy().astype(np.float64)


def drift(reference: np.ndarray, got: np.ndarray, task: dict) -> dict:
    err = np.abs(got - reference)
    out = {"max_abs_error": float(err.max()), "mean_abs_error": float(err.mean())}
    if task["kind"] in ("classification", "ordinal"):  # class scores: compare their ranking
        out["top1_agreement"] = top1_agreement(reference, got)
        out["tied_top1"], out["top1_among_tied"] = top1_ties(reference, got)
        out["kl_nats"] = mean_kl(reference, got)
    else:
        out["ccc"] = {
            name: round(float(v), 6)
            for name, v in zip(task["outputs"], ccc(reference, got), strict=True)
        }
        out["min_ccc"] = float(min(out["ccc"].values()))
    return out


def verify_bundle(
    bundle: Bundle,
    module: torch.nn.Module,
    heldout: np.ndarray,
    task: dict,
    progress: Callable[[str, int], Callable[[], None]] | None = None,
    only: set[str] | None = None,
) -> dict[str, dict]:
    """Figures for each model file (or those in `only`) of a (staged) bundle, with their outputs."""
    reference = float_reference(module, heldout)
    results = {}
    for model in bundle.manifest.models:
        if only is not None and model.file not in only:
            continue
        engine = ENGINES[model.format](bundle, model, threads=1)
        engine.warmup(3)
        tick = progress(f"verify {model.file}", len(heldout)) if progress else (lambda: None)
        rows = []
        for i in range(len(heldout)):
            rows.append(next(iter(engine.run(heldout[i : i + 1]).values())))
            tick()
        got = np.concatenate(rows).astype(np.float64)
        figures = drift(reference, got, task)
        lat = engine.latency.summary()
        figures.update(
            latency_p50_ms=round(lat["p50_ms"], 4),
            latency_p99_ms=round(lat["p99_ms"], 4),
            runtime=engine.runtime,
            bytes=model.size_bytes,
        )
        results[model.file] = {"figures": figures, "outputs": got}
    return results


def acceptable(figures: dict, task: dict, min_ccc: float, min_top1: float) -> bool:
    if task["kind"] in ("classification", "ordinal"):
        return figures["top1_agreement"] >= min_top1
    return figures["min_ccc"] >= min_ccc

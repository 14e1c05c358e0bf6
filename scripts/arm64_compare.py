"""Are the arm64 runs the x86 runs? The equality check of `make arm64-check`.

Reads two folders written by `scripts/arm64_capture.py` (x86 first, arm64 second) and compares,
per modality:

- the events: the same count, and per event the same model, span, `updated` flag, subject and
  flags; the values (model outputs) within the model's int8 drift from its manifest (`tolerance`
  of the precision that ran), numeric quality figures within 1e-6 (they come from the front end);
- every model call: the features fed in (the front end's output) within 1e-6, and the outputs
  within the manifest tolerance of that model file's precision, for fp32 models times the
  largest |output| of that tensor where it exceeds 1 (a detector's raw logits).

Prints a table (markdown) and exits 1 on any mismatch.

    python scripts/arm64_compare.py X86_DIR ARM64_DIR [--models edge/models]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MODALITIES = ("speech", "face", "eeg")
#: Front-end features and quality figures: the same float arithmetic on both machines, up to
#: the order of a few sums (vectorised differently by NEON and AVX builds of numpy).
FEATURE_TOL = 1e-6
#: Where a face's box comes from: the detector's float outputs scaled to pixels.
BOX_TOL_PX = 1e-3


@dataclass
class Row:
    modality: str
    what: str
    count: int
    max_diff: float
    tolerance: float
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.max_diff <= self.tolerance

    def cells(self) -> list[str]:
        diff = "0" if self.max_diff == 0 else f"{self.max_diff:.3g}"
        verdict = "equal" if self.max_diff == 0 else ("within" if self.ok else "MISMATCH")
        return [
            self.modality,
            self.what,
            str(self.count),
            diff,
            f"{self.tolerance:.3g}",
            verdict + (f" ({self.note})" if self.note else ""),
        ]


def _tolerance(models: Path, key: str) -> tuple[float, str]:
    """The manifest tolerance of `bundle:file` for that file's precision."""
    bundle, file = key.split(":", 1)
    manifest = json.loads((models / bundle / "manifest.json").read_text())
    precision = next(m["precision"] for m in manifest["models"] if m["file"] == file)
    return float(manifest["tolerance"][precision]), precision


def _events(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _max_abs(a: object, b: object) -> float:
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.shape != y.shape:
        return math.inf
    if x.size == 0:
        return 0.0
    return float(np.max(np.abs(x - y)))


def compare_calls(modality: str, x86: Path, arm: Path, models: Path) -> list[Row]:
    a, b = np.load(x86), np.load(arm)
    rows = []
    if sorted(a.files) != sorted(b.files):
        only = sorted(set(a.files) ^ set(b.files))
        rows.append(Row(modality, f"model calls differ: {only[:3]}", 0, math.inf, 0.0))
        return rows
    by_model: dict[tuple[str, str], list[str]] = {}
    for name in a.files:
        model, kind, _ = name.rsplit("/", 2)
        by_model.setdefault((model, "in" if kind.startswith("in") else "out"), []).append(name)
    for (model, side), names in sorted(by_model.items()):
        calls = len({n.rsplit("/", 1)[1] for n in names})
        diff = max(_max_abs(a[n], b[n]) for n in names)
        if side == "in":
            rows.append(Row(modality, f"{model} features in", calls, diff, FEATURE_TOL))
        else:
            # An fp32 tolerance is float rounding, stated for outputs of order 1; a detector's raw
            # logits reach hundreds, where float32 sums taken in another order (NEON vs AVX
            # kernels) differ by a few ulps: scale it to the tensor. int8 drift is not scaled.
            tol, precision = _tolerance(models, model)
            largest = max(float(np.max(np.abs(a[n]), initial=0.0)) for n in names)
            scale = max(1.0, largest) if precision == "fp32" else 1.0
            note = (
                precision
                if scale == 1.0
                else f"{precision}; x {scale:.3g}, the largest output magnitude"
            )
            rows.append(Row(modality, f"{model} outputs", calls, diff, tol * scale, note))
    return rows


def _event_model_tolerance(modality: str, calls: Path, models: Path, name: str) -> float:
    """The tolerance of the model file of bundle `name` that the run called."""
    keys = {f.rsplit("/", 2)[0] for f in np.load(calls).files}
    tols = [_tolerance(models, k)[0] for k in keys if k.split(":", 1)[0] == name]
    if not tols:
        raise SystemExit(f"{calls}: no calls of bundle {name} recorded for {modality}'s events")
    return max(tols)


def compare_events(modality: str, x86: Path, arm: Path, models: Path) -> list[Row]:
    ea, eb = _events(x86 / f"{modality}.jsonl"), _events(arm / f"{modality}.jsonl")
    if len(ea) != len(eb):
        return [Row(modality, f"events: {len(ea)} on x86, {len(eb)} on arm64", 0, math.inf, 0.0)]
    same_fields = 0.0
    values, quality, boxes = 0.0, 0.0, 0.0
    tol = None
    for x, y in zip(ea, eb, strict=True):
        for field in ("seq", "modality", "model", "start_s", "end_s", "updated"):
            same_fields = max(same_fields, 0.0 if x[field] == y[field] else math.inf)
        if tol is None:
            tol = _event_model_tolerance(
                modality, x86 / f"{modality}.npz", models, x["model"]["name"]
            )
        if sorted(x["values"]) != sorted(y["values"]):
            values = math.inf
        else:
            values = max([values, *(abs(x["values"][k] - y["values"][k]) for k in x["values"])])
        for k in set(x["quality"]) | set(y["quality"]):
            qa, qb = x["quality"].get(k), y["quality"].get(k)
            if isinstance(qa, bool | list | str) or qa is None or qb is None:
                same_fields = max(same_fields, 0.0 if qa == qb else math.inf)
            else:
                quality = max(quality, abs(qa - qb))
        sa, sb = x.get("subject", {}), y.get("subject", {})
        if sa.get("id") != sb.get("id"):
            same_fields = math.inf
        if "box" in sa or "box" in sb:
            boxes = max(boxes, _max_abs(sa.get("box", []), sb.get("box", [])))
    rows = [
        Row(modality, "events: model, span, seq, flags", len(ea), same_fields, 0.0),
        Row(modality, "events: values", len(ea), values, tol or 0.0, "manifest tolerance"),
        Row(modality, "events: quality figures", len(ea), quality, FEATURE_TOL),
    ]
    if any("box" in e.get("subject", {}) for e in ea):
        rows.append(Row(modality, "events: face boxes (px)", len(ea), boxes, BOX_TOL_PX))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("x86", type=Path, help="folder written by arm64_capture.py on x86")
    parser.add_argument("arm64", type=Path, help="folder written by arm64_capture.py on arm64")
    parser.add_argument(
        "--models",
        type=Path,
        default=Path(__file__).resolve().parents[1] / "edge" / "models",
        help="the bundles whose manifests give the tolerances",
    )
    args = parser.parse_args()
    rows: list[Row] = []
    for modality in MODALITIES:
        rows += compare_events(modality, args.x86, args.arm64, args.models)
        rows += compare_calls(
            modality, args.x86 / f"{modality}.npz", args.arm64 / f"{modality}.npz", args.models
        )
    header = ["modality", "compared", "n", "max abs diff", "tolerance", "verdict"]
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join(" --- " for _ in header) + "|")
    for row in rows:
        print("| " + " | ".join(row.cells()) + " |")
    for side, folder in (("x86", args.x86), ("arm64", args.arm64)):
        p = json.loads((folder / "platform.json").read_text())
        print(f"\n{side}: " + ", ".join(f"{k} {v}" for k, v in p.items()), end="")
    print()
    bad = [r for r in rows if not r.ok]
    for r in bad:
        print(f"mismatch: {r.modality} {r.what}: {r.max_diff:.3g} > {r.tolerance:.3g}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

"""Model bundles: a directory, or one zip file, holding `manifest.json` and the model files.

`load_bundle` verifies everything before any model is opened: the manifest parses against the
schema, every listed file (models, and the reference examples where there are some) is present,
has the listed size and the listed sha256, and no unlisted model file hides beside them. `write_bundle` computes those figures itself and writes
atomically (a temporary sibling, renamed at the end), so a failure never leaves half a bundle.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge.errors import BundleError
from edge.runtime.manifest import Manifest, ModelFile

MANIFEST = "manifest.json"
MAX_MANIFEST_BYTES = 1 << 20


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Bundle:
    """A verified bundle: its manifest and the bytes of each model file, checked at load."""

    path: Path
    manifest: Manifest
    _files: dict[str, bytes]

    def model_bytes(self, model: ModelFile) -> bytes:
        return self._files[model.file]

    def reference_examples(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(inputs, float outputs) of the bundle's reference examples, float32; None without.

        Inputs are stored as int8 with a scale and zero point (exact for an int8 model's input
        grid) and returned dequantised; outputs are the float model's on those very inputs."""
        ref = self.manifest.reference
        if ref is None:
            return None
        try:
            with np.load(io.BytesIO(self._files[ref.file]), allow_pickle=False) as z:
                q = z["inputs_q"].astype(np.float32)
                scale, zero_point = float(z["scale"]), float(z["zero_point"])
                outputs = z["outputs"].astype(np.float32)
        except (KeyError, ValueError, OSError) as exc:
            raise BundleError(
                f"{self.path}: {ref.file} is not a readable reference file ({exc})"
            ) from exc
        return ((q - zero_point) * np.float32(scale)).astype(np.float32), outputs

    @property
    def size_bytes(self) -> int:
        return sum(len(b) for b in self._files.values())


def _read_dir(path: Path) -> tuple[bytes, dict[str, bytes]]:
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        raise BundleError(f"{path} is not a bundle: it has no {MANIFEST}")
    files = {p.name: p.read_bytes() for p in path.iterdir() if p.is_file() and p.name != MANIFEST}
    return manifest_path.read_bytes(), files


def _read_zip(path: Path) -> tuple[bytes, dict[str, bytes]]:
    try:
        with zipfile.ZipFile(path) as z:
            names = [n for n in z.namelist() if not n.endswith("/")]
            for n in names:
                if "/" in n or n.startswith("."):
                    raise BundleError(
                        f"{path}: zip entry {n!r} is not a plain file name at the top level"
                    )
            if MANIFEST not in names:
                raise BundleError(f"{path} is not a bundle: the zip has no {MANIFEST}")
            return z.read(MANIFEST), {n: z.read(n) for n in names if n != MANIFEST}
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError) as exc:
        raise BundleError(f"{path} is not a readable zip bundle ({exc})") from exc


def load_bundle(path: str | os.PathLike[str]) -> Bundle:
    """Open and verify a bundle directory or zip file. Raises `BundleError` on any defect."""
    path = Path(path)
    if path.is_dir():
        raw_manifest, files = _read_dir(path)
    elif path.is_file():
        raw_manifest, files = _read_zip(path)
    else:
        raise BundleError(f"bundle not found: {path}")
    if len(raw_manifest) > MAX_MANIFEST_BYTES:
        raise BundleError(
            f"{path}/{MANIFEST} is {len(raw_manifest)} bytes; a manifest is at most 1 MiB"
        )
    try:
        data = json.loads(raw_manifest)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{path}/{MANIFEST} is not valid JSON ({exc})") from exc
    try:
        manifest = Manifest.from_dict(data)
    except BundleError as exc:
        raise BundleError(f"{path}: {exc}") from None
    listed = {m.file for m in manifest.models}
    for m in manifest.models:
        blob = files.get(m.file)
        if blob is None:
            raise BundleError(f"{path}: model file {m.file} is listed in the manifest but missing")
        if len(blob) != m.size_bytes:
            raise BundleError(
                f"{path}: {m.file} is {len(blob)} bytes but the manifest says {m.size_bytes} "
                "(truncated or replaced); rebuild or re-download the bundle"
            )
        digest = sha256_bytes(blob)
        if digest != m.sha256:
            raise BundleError(
                f"{path}: {m.file} has sha256 {digest}, the manifest says {m.sha256}: corrupt"
            )
    stray = sorted(n for n in files if n.endswith((".onnx", ".tflite")) and n not in listed)
    if stray:
        raise BundleError(f"{path}: model files not listed in the manifest: {stray}")
    ref = manifest.reference
    if ref is not None:
        blob = files.get(ref.file)
        if blob is None:
            raise BundleError(
                f"{path}: reference file {ref.file} is listed in the manifest but missing"
            )
        if len(blob) != ref.size_bytes or sha256_bytes(blob) != ref.sha256:
            raise BundleError(
                f"{path}: {ref.file} does not match the size and sha256 the manifest gives: corrupt"
            )
        listed.add(ref.file)
    return Bundle(path, manifest, {name: files[name] for name in listed})


def write_bundle(
    out: str | os.PathLike[str],
    manifest: dict[str, Any],
    files: dict[str, bytes | os.PathLike[str] | str],
    as_zip: bool | None = None,
    overwrite: bool = False,
) -> Bundle:
    """Write a bundle and return it, loaded and verified.

    ``manifest`` is the manifest without sizes and checksums: each entry of ``manifest["models"]``
    (and ``manifest["reference"]``, if any) names a key of ``files`` (bytes, or a path to copy). ``as_zip`` defaults to whether ``out``
    ends in ``.zip``. Nothing appears at ``out`` unless the whole bundle was written and verified.
    """
    out = Path(out)
    as_zip = out.suffix == ".zip" if as_zip is None else as_zip
    if out.exists() and not overwrite:
        raise BundleError(f"{out} already exists; pass overwrite=True (CLI: --force) to replace it")
    blobs = {
        name: (data if isinstance(data, bytes) else Path(data).read_bytes())
        for name, data in files.items()
    }
    manifest = json.loads(json.dumps(manifest))
    entries = list(manifest.get("models", []))
    if manifest.get("reference") is not None:
        entries.append(manifest["reference"])
    for entry in entries:
        name = entry.get("file")
        if name not in blobs:
            raise BundleError(f"manifest lists file {name!r} but no such file was given")
        entry["sha256"] = sha256_bytes(blobs[name])
        entry["size_bytes"] = len(blobs[name])
    Manifest.from_dict(manifest)  # refuse a bad manifest before touching the disk
    text = json.dumps(manifest, indent=2, sort_keys=False) + "\n"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        staged = tmp / out.name
        if as_zip:
            with zipfile.ZipFile(staged, "w", compression=zipfile.ZIP_DEFLATED) as z:
                z.writestr(MANIFEST, text)
                for name, blob in blobs.items():
                    z.writestr(name, blob)
        else:
            staged.mkdir()
            (staged / MANIFEST).write_text(text)
            for name, blob in blobs.items():
                (staged / name).write_bytes(blob)
        load_bundle(staged)
        if out.exists():
            shutil.rmtree(out) if out.is_dir() else out.unlink()
        os.replace(staged, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return load_bundle(out)

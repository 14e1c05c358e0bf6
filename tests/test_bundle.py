"""Bundles: round trips, and every defect refused with a clear error before a model is opened."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import jsonschema
import pytest

from edge.errors import BundleError
from edge.runtime import load_bundle, write_bundle
from edge.runtime.bundle import MANIFEST, sha256_bytes
from edge.runtime.manifest import Manifest
from tests.bundles import dense_bundle

pytestmark = pytest.mark.device

SCHEMA = json.loads((Path(__file__).parents[1] / "edge/runtime/manifest.schema.json").read_text())


@pytest.mark.parametrize("as_zip", [False, True])
def test_round_trip(tmp_path: Path, as_zip: bool) -> None:
    out = tmp_path / ("b.zip" if as_zip else "b")
    bundle, net, _ = dense_bundle(out, as_zip=as_zip)
    again = load_bundle(out)
    assert again.manifest == bundle.manifest
    assert again.manifest.params == net.params
    assert {m.file for m in again.manifest.models} == {
        "model.onnx",
        "model.tflite",
        "model_int8.onnx",
        "model_int8.tflite",
    }
    for m in again.manifest.models:
        assert m.sha256 == sha256_bytes(again.model_bytes(m))
        assert m.size_bytes == len(again.model_bytes(m))
    assert Manifest.from_dict(again.manifest.to_dict()) == again.manifest
    jsonschema.validate(again.manifest.to_dict(), SCHEMA)


def manifest_of(path: Path) -> dict:
    return json.loads((path / MANIFEST).read_text())


def rewrite(path: Path, change) -> None:
    data = manifest_of(path)
    change(data)
    (path / MANIFEST).write_text(json.dumps(data))


@pytest.fixture
def bundle_dir(tmp_path: Path) -> Path:
    dense_bundle(tmp_path / "b", int8=False)
    return tmp_path / "b"


def test_missing_bundle_and_missing_manifest(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="not found"):
        load_bundle(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BundleError, match=r"has no manifest\.json"):
        load_bundle(tmp_path / "empty")


def test_missing_model_file(bundle_dir: Path) -> None:
    (bundle_dir / "model.tflite").unlink()
    with pytest.raises(BundleError, match=r"model\.tflite is listed in the manifest but missing"):
        load_bundle(bundle_dir)


def test_checksum_mismatch(bundle_dir: Path) -> None:
    data = bytearray((bundle_dir / "model.onnx").read_bytes())
    data[100] ^= 0xFF
    (bundle_dir / "model.onnx").write_bytes(bytes(data))
    with pytest.raises(BundleError, match=r"model\.onnx has sha256 .* corrupt"):
        load_bundle(bundle_dir)


def test_truncated_model(bundle_dir: Path) -> None:
    data = (bundle_dir / "model.tflite").read_bytes()
    (bundle_dir / "model.tflite").write_bytes(data[: len(data) // 2])
    with pytest.raises(BundleError, match="truncated or replaced"):
        load_bundle(bundle_dir)


def test_unknown_schema_version(bundle_dir: Path) -> None:
    rewrite(bundle_dir, lambda d: d.update(schema_version=99))
    with pytest.raises(BundleError, match="schema_version 99 is not supported"):
        load_bundle(bundle_dir)


@pytest.mark.parametrize(
    ("change", "match", "schema_catches"),
    [
        (lambda d: d.update(params="many"), r"params must be int", True),
        (lambda d: d.update(params=True), r"params must not be a boolean", True),
        (lambda d: d.update(modality="smell"), r"modality is 'smell'", True),
        (lambda d: d["models"][0].update(size_bytes=-1), r"size_bytes must be >= 0", True),
        (
            lambda d: d["models"][0]["inputs"][0].update(shape=[0, 16]),
            r"shape\[0\] must be a positive integer",
            True,
        ),
        (
            lambda d: d["models"][0]["inputs"][0].update(dtype="float128"),
            r"dtype is 'float128'",
            True,
        ),
        (lambda d: d["models"][0].update(file="../evil.onnx"), r"plain file name", True),
        (lambda d: d["task"].update(kind="classification"), r"task.labels is missing", True),
        (lambda d: d.pop("provenance"), r"provenance is missing", True),
        (lambda d: d["provenance"].update(licence=" "), r"licence must not be empty", True),
        (
            lambda d: d.update(tolerance={"int8": 0.1}),
            r"no value for precision\(s\) \['fp32'\]",
            False,
        ),
        (
            lambda d: d.update(front_end={"kind": "logmel", "n_fft": 500}),
            r"not a valid log-mel",
            False,
        ),
    ],
)
def test_manifest_fields_of_the_wrong_type(bundle_dir: Path, change, match, schema_catches) -> None:
    rewrite(bundle_dir, change)
    with pytest.raises(BundleError, match=match):
        load_bundle(bundle_dir)
    if schema_catches:  # the rest need knowledge JSON Schema cannot express (see manifest.py)
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(manifest_of(bundle_dir), SCHEMA)


def test_not_json_and_stray_model(bundle_dir: Path) -> None:
    shutil.copy(bundle_dir / "model.onnx", bundle_dir / "extra.onnx")
    with pytest.raises(BundleError, match=r"not listed in the manifest: \['extra.onnx'\]"):
        load_bundle(bundle_dir)
    (bundle_dir / "extra.onnx").unlink()
    (bundle_dir / MANIFEST).write_text("{not json")
    with pytest.raises(BundleError, match="not valid JSON"):
        load_bundle(bundle_dir)


def test_bad_zip(tmp_path: Path) -> None:
    (tmp_path / "b.zip").write_bytes(b"PK\x03\x04garbage")
    with pytest.raises(BundleError, match="not a readable zip"):
        load_bundle(tmp_path / "b.zip")
    with zipfile.ZipFile(tmp_path / "nested.zip", "w") as z:
        z.writestr("sub/manifest.json", "{}")
    with pytest.raises(BundleError, match="not a plain file name"):
        load_bundle(tmp_path / "nested.zip")


def test_failed_write_leaves_nothing_behind(tmp_path: Path) -> None:
    bundle, _, _ = dense_bundle(tmp_path / "good", int8=False)
    manifest = bundle.manifest.to_dict()
    manifest["models"][0]["inputs"][0]["dtype"] = "complex"
    files = {m.file: bundle.model_bytes(m) for m in bundle.manifest.models}
    with pytest.raises(BundleError):
        write_bundle(tmp_path / "bad", manifest, files)
    manifest = bundle.manifest.to_dict()
    with pytest.raises(BundleError, match="no such file was given"):
        write_bundle(tmp_path / "bad", manifest, {"model.onnx": b"x"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good"]


def test_existing_bundle_is_not_overwritten_without_consent(tmp_path: Path) -> None:
    bundle, _, _ = dense_bundle(tmp_path / "b", int8=False)
    files = {m.file: bundle.model_bytes(m) for m in bundle.manifest.models}
    with pytest.raises(BundleError, match="already exists"):
        write_bundle(tmp_path / "b", bundle.manifest.to_dict(), files)
    write_bundle(tmp_path / "b", bundle.manifest.to_dict(), files, overwrite=True)
    assert load_bundle(tmp_path / "b").manifest == bundle.manifest

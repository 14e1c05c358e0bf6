"""quant/: export, int8 calibration, drift verification and bundle writing, end to end.

Small conv students are trained for a few steps inside the tests on synthetic, learnable
tasks; the bundles they export are loaded in both engines and checked against float torch.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip(
    "torch", reason="quant tests need the 'train' and 'export' extras (torch)"
)
# Found, not imported: importing litert-torch takes 4 s, which collection would pay in every worker.
if importlib.util.find_spec("litert_torch") is None:
    pytest.skip("quant tests need the 'export' extra (litert-torch)", allow_module_level=True)

from distill.checkpoint import Checkpoint  # noqa: E402
from distill.metrics import ccc, top1_agreement, top1_ties  # noqa: E402
from distill.students import create, register  # noqa: E402
from distill.synthetic import PROVENANCE, SHAPE, features, regression_student, train  # noqa: E402
from edge.cli.main import main  # noqa: E402
from edge.errors import ConfigError  # noqa: E402
from edge.runtime import load_bundle  # noqa: E402
from edge.runtime.engines import open_engine  # noqa: E402
from quant.build import ExportOptions, build_bundle  # noqa: E402
from quant.errors import CalibrationError, ExportError  # noqa: E402
from quant.export_tflite import export_tflite  # noqa: E402


class CumulativeGain(torch.nn.Module):
    """Uses cumprod, which litert-torch has no lowering for."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cumprod(torch.sigmoid(x), dim=-1)


class ConvWithCumprod(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 4, 3, padding=1)
        self.gain = CumulativeGain()
        self.head = torch.nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.gain(self.conv(x)).mean(dim=(2, 3)))


register("test_conv_with_cumprod")(ConvWithCumprod)


@pytest.fixture(scope="module")
def regression(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("reg")
    # 48 channels (about 43 K parameters): weights, not graph structure, dominate the file sizes.
    ckpt, x = regression_student(channels=48)
    ckpt.name = "reg-test"
    ckpt.save(tmp / "student.pt")
    model = ckpt.build()
    np.save(tmp / "calibration.npy", x[:200])
    bundle, report = build_bundle(tmp / "student.pt", tmp / "calibration.npy", tmp / "bundle")
    return {"tmp": tmp, "model": model, "bundle": bundle, "report": report}


def test_bundle_has_all_four_artifacts_with_measured_provenance(regression) -> None:
    m = regression["bundle"].manifest
    assert {(x.format, x.precision) for x in m.models} == {
        ("onnx", "fp32"),
        ("onnx", "int8"),
        ("tflite", "fp32"),
        ("tflite", "int8"),
    }
    assert m.provenance.teacher == PROVENANCE["teacher"]
    assert (
        m.provenance.date and m.provenance.source_revision
    )  # filled in when the checkpoint was saved
    assert m.params == sum(p.numel() for p in regression["model"].parameters())
    assert m.macs > m.params
    assert set(m.measured["verification"]) == {x.file for x in m.models}
    assert m.measured["calibration"]["heldout_examples"] == 50
    tflite_int8 = m.model("tflite", "int8")
    assert tflite_int8.inputs[0].dtype == "int8" and tflite_int8.inputs[0].quantization is not None
    assert {x.inputs[0].name for x in m.models} == {"features"}


def test_int8_agrees_with_float_torch_on_fresh_inputs(regression) -> None:
    x = features(200, 99)
    with torch.no_grad():
        ref = regression["model"](torch.from_numpy(x)).numpy()
    for fmt in ("onnx", "tflite"):
        engine = open_engine(regression["bundle"], engine=fmt, precision="int8")
        got = np.concatenate([engine.run(x[i : i + 1])["scores"] for i in range(len(x))])
        assert np.all(ccc(ref, got) >= 0.95), (fmt, ccc(ref, got))
    figures = regression["bundle"].manifest.measured["verification"]
    assert (
        figures["model_int8.onnx"]["min_ccc"] >= 0.95
        and figures["model_int8.tflite"]["min_ccc"] >= 0.95
    )


def test_int8_files_are_at_most_a_third_of_float(regression) -> None:
    m = regression["bundle"].manifest
    for fmt in ("onnx", "tflite"):
        assert m.model(fmt, "int8").size_bytes * 3 <= m.model(fmt, "fp32").size_bytes, fmt


def test_ort_and_litert_agree_within_the_bundle_tolerance(regression) -> None:
    bundle = regression["bundle"]
    x = features(30, 7)
    for precision in ("fp32", "int8"):
        a = open_engine(bundle, engine="onnx", precision=precision)
        b = open_engine(bundle, engine="tflite", precision=precision)
        diffs = [
            np.max(np.abs(a.run(x[i : i + 1])["scores"] - b.run(x[i : i + 1])["scores"]))
            for i in range(30)
        ]
        assert max(diffs) <= bundle.manifest.tolerance[precision], precision
    assert bundle.manifest.tolerance["fp32"] <= 1e-3


def test_classification_bundle_keeps_top1(tmp_path) -> None:
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 4, 500)
    x = features(500, 3) * 0.5
    for k in range(4):  # class k: a bright band in a quarter of the feature axis
        x[labels == k, 0, :, 4 * k : 4 * k + 4] += 1.5
    model = create("tiny_conv", n_outputs=4, channels=16)
    train(model, x, labels.astype(np.int64), torch.nn.functional.cross_entropy, steps=150)
    task = {"kind": "classification", "outputs": ["logits"], "labels": ["a", "b", "c", "d"]}
    ckpt = Checkpoint(
        "tiny_conv",
        {"n_outputs": 4, "channels": 16},
        model.state_dict(),
        SHAPE,
        task,
        {"kind": "none"},
        dict(PROVENANCE),
        name="cls-test",
        modality="face",
    )
    ckpt.save(tmp_path / "c.pt")
    np.save(tmp_path / "cal.npy", x[:160])
    bundle, _ = build_bundle(
        tmp_path / "c.pt",
        tmp_path / "cal.npy",
        tmp_path / "b.zip",
        ExportOptions(formats=("tflite",)),
    )
    assert bundle.path.suffix == ".zip" and {m.format for m in bundle.manifest.models} == {"tflite"}
    figures = bundle.manifest.measured["verification"]["model_int8.tflite"]
    assert figures["top1_agreement"] >= 0.95 and figures["kl_nats"] < 0.05
    assert 0.0 <= figures["tied_top1"] <= 1.0
    assert figures["top1_among_tied"] >= figures["top1_agreement"]


def test_ties_in_quantised_scores_are_counted_apart() -> None:
    ref = np.array([[1.0, 2.0, 0.0], [3.0, 1.0, 0.0], [0.0, 0.0, 5.0], [0.0, 4.0, 1.0]])
    got = np.array([[2.0, 2.0, 0.0], [1.0, 1.0, 0.0], [0.0, 1.0, 3.0], [3.0, 1.0, 3.0]])
    # Rows 0 and 1 tie at the top; row 0's argmax takes the first class, which is not the
    # reference's; row 3 ties classes 0 and 2, and the reference's class 1 is not among them.
    assert top1_agreement(ref, got) == pytest.approx(0.5)
    assert top1_ties(ref, got) == pytest.approx((0.75, 0.75))


def test_checkpoint_that_does_not_match_its_architecture(regression, tmp_path) -> None:
    ckpt = Checkpoint.load(regression["tmp"] / "student.pt")
    ckpt.config = {"n_outputs": 3, "channels": 16}
    ckpt.save(tmp_path / "bad.pt")
    with pytest.raises(
        ConfigError,
        match=r"bn1.bias: checkpoint \(48,\) vs architecture \(16,\).*and 6 more tensors of the wrong shape",
    ):
        build_bundle(tmp_path / "bad.pt", regression["tmp"] / "calibration.npy", tmp_path / "out")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(
        ConfigError, match="is not an affect-edge checkpoint: it is not a torch file"
    ):
        build_bundle(tmp_path / "junk.pt", regression["tmp"] / "calibration.npy", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_bad_calibration_data(regression, tmp_path) -> None:
    ckpt_path = regression["tmp"] / "student.pt"
    np.save(tmp_path / "shape.npy", features(100, 1)[:, :, :10])
    with pytest.raises(
        CalibrationError, match=r"shape \(1, 10, 16\).*the model takes \(1, 20, 16\)"
    ):
        build_bundle(ckpt_path, tmp_path / "shape.npy", tmp_path / "out")
    np.save(tmp_path / "small.npy", features(20, 1))
    with pytest.raises(CalibrationError, match="20 examples; at least 48 are needed"):
        build_bundle(ckpt_path, tmp_path / "small.npy", tmp_path / "out")
    bad = features(100, 1)
    bad[17, 0, 3, 3] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    with pytest.raises(CalibrationError, match=r"example\(s\) \[17\] hold NaN"):
        build_bundle(ckpt_path, tmp_path / "nan.npy", tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nan.npy", "shape.npy", "small.npy"]


def test_unconvertible_op_names_op_and_layer_and_leaves_nothing(tmp_path) -> None:
    with pytest.raises(ExportError, match=r"aten\.cumprod.*layer 'gain' \(CumulativeGain\)"):
        export_tflite(ConvWithCumprod().eval(), torch.zeros(1, *SHAPE))
    ckpt = Checkpoint(
        "test_conv_with_cumprod",
        {},
        ConvWithCumprod().state_dict(),
        SHAPE,
        {"kind": "regression", "outputs": ["a", "b", "c"]},
        {"kind": "none"},
        dict(PROVENANCE),
    )
    ckpt.save(tmp_path / "c.pt")
    np.save(tmp_path / "cal.npy", features(64, 2))
    with pytest.raises(
        ExportError,
        match=r"torch.onnx.export cannot convert operator prims.prod used by layer 'gain'",
    ):
        build_bundle(tmp_path / "c.pt", tmp_path / "cal.npy", tmp_path / "bundle")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.pt", "cal.npy"]


def test_export_cli_checks_the_profile_budget(regression, tmp_path, capsys) -> None:
    base = [
        "export",
        str(regression["tmp"] / "student.pt"),
        "--calibration",
        str(regression["tmp"] / "calibration.npy"),
        "--formats",
        "onnx",
        "--json",
    ]
    # 3.46 M MACs at the co-processor's estimated 0.64 G MAC/s is 5.4 ms: over a 4 ms budget.
    shipped = Path(__file__).parents[1] / "devices" / "profiles" / "hearing-aid-coprocessor.toml"
    tight = tmp_path / "tight.toml"
    tight.write_text(shipped.read_text().replace("latency_p99_ms = 20.0", "latency_p99_ms = 4.0"))
    assert main([*base, "-o", str(tmp_path / "ha"), "--profile", str(tight)]) == 2
    assert "latency_p99_ms: 5.400 ms exceeds the limit of 4.000 ms" in capsys.readouterr().err
    assert not (tmp_path / "ha").exists()
    allowed = [*base, "-o", str(tmp_path / "ha"), "--profile", str(tight), "--allow-over-budget"]
    assert main(allowed) == 0
    assert json.loads(capsys.readouterr().out)["violations"][0].startswith("latency_p99_ms")
    args = [*base, "-o", str(tmp_path / "b"), "--profile", "raspberry-pi-4"]
    assert main(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["violations"] == [] and set(report["verification"]) == {
        "model_fp32.onnx",
        "model_int8.onnx",
    }
    assert load_bundle(tmp_path / "b").manifest.name == "reg-test"
    assert main(args) == 2  # exists already, no --force
    assert "already exists" in capsys.readouterr().err


KERNELS_WITH_BIAS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")


@pytest.mark.parametrize("architecture", ["face_expr_plain"])  # the shipped face student
def test_int8_tflite_biases_sit_on_the_scale_the_kernels_read(architecture: str) -> None:
    from edge.runtime.engines.litert import interpreter_class
    from quant.export_tflite import export_tflite_int8

    # The face students: litert-torch 0.10 stores the linear head's bias (after the global mean) on
    # the mean's calibrated output scale, which the converter then replaces by its input's.
    torch.manual_seed(0)
    module = create(architecture)
    x = np.random.default_rng(0).uniform(-1, 1, (96, 1, 48, 48)).astype(np.float32)
    with torch.no_grad():
        for _ in range(3):  # batch-norm statistics of these inputs
            module.train()(torch.from_numpy(x))
        module.head.bias.copy_(torch.linspace(-3.0, 3.0, 7))
    module.eval()
    data = export_tflite_int8(module, torch.from_numpy(x[:1]), x[:64])
    it = interpreter_class()[0](model_content=data)
    it.allocate_tensors()
    tensors = {t["index"]: t["quantization_parameters"] for t in it.get_tensor_details()}
    checked = 0
    for op in it._get_ops_details():
        if op["op_name"] in KERNELS_WITH_BIAS and len(op["inputs"]) > 2:
            i, w, b = (tensors[k] for k in op["inputs"][:3])
            np.testing.assert_allclose(b["scales"], i["scales"][0] * w["scales"], rtol=1e-4)
            checked += 1
    layers = [m for m in module.modules() if isinstance(m, torch.nn.Conv2d | torch.nn.Linear)]
    assert checked == len(layers)  # every conv of the student and its head
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    (si, zi), (so, zo) = inp["quantization"], out["quantization"]
    got = []
    for row in x[64:]:
        it.set_tensor(
            inp["index"], np.clip(np.round(row[None] / si + zi), -128, 127).astype(np.int8)
        )
        it.invoke()
        got.append((it.get_tensor(out["index"]).astype(np.float32) - zo) * so)
    with torch.no_grad():
        want = module(torch.from_numpy(x[64:])).numpy()
    # Without the mend the bias scale is 6% off here, and so is each logit's bias.
    assert np.abs(np.concatenate(got) - want).mean(axis=0).max() < 0.1

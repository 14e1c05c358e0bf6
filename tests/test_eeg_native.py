"""The native HiSTN engine (edge/dsp/c/ae_histn.c through edge/dsp/_histn.pyx): its outputs equal
ONNX Runtime's on the same fp32 ONNX within 1e-5, on the shipped EEG bundles and on three
random graphs exported here; it is the EEG bundles' default engine; other graphs are refused."""

from __future__ import annotations

import numpy as np
import pytest

from edge.errors import BundleError
from edge.frontends.eeg import window_inputs
from edge.runtime import load_bundle
from edge.runtime.engines import NativeEngine, OrtEngine, open_engine
from edge.runtime.engines.native import histn_weights
from edge.runtime.registry import find_bundle

EEG_BUNDLES = ("eeg-valence", "eeg-valence-cyton8", "eeg-valence-muse4")


def _windows(shape: tuple[int, ...], n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, *shape)).astype(np.float32)
    x[: n // 2] += 3.0 * np.sin(np.linspace(0, 20, shape[-2]))[:, None]  # a large slow wave
    return window_inputs(x)


@pytest.mark.parametrize("name", EEG_BUNDLES)
def test_native_equals_onnx_fp32_on_the_shipped_bundles(name):
    bundle = load_bundle(find_bundle(name))
    native = open_engine(bundle, engine="native")
    ort = open_engine(bundle, engine="onnx", precision="fp32")
    assert isinstance(native, NativeEngine) and native.name == "native/fp32"
    x = _windows(tuple(native.inputs[0].shape[1:]), 16, 0)
    ref = bundle.reference_examples()
    if ref is not None:
        x = np.concatenate([x, ref[0]])
    got = native.run(x)["scores"]
    want = ort.run(x)["scores"]
    assert float(np.abs(want).max()) > 0.1
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)
    # One window at a time (the stream's call) gives the same as the batch.
    one = np.stack([native.run(x[i : i + 1])["scores"][0] for i in range(len(x))])
    np.testing.assert_array_equal(one, got)


@pytest.mark.parametrize("name", EEG_BUNDLES)
def test_native_is_the_eeg_default_unless_int8_is_asked(name):
    bundle = load_bundle(find_bundle(name))
    assert bundle.manifest.measured["default_engine"] == "native"
    assert isinstance(open_engine(bundle), NativeEngine)
    assert isinstance(open_engine(bundle, precision="fp32"), NativeEngine)
    assert isinstance(open_engine(bundle, precision="int8"), OrtEngine)
    assert isinstance(open_engine(bundle, engine="onnx"), OrtEngine)
    with pytest.raises(BundleError, match="fp32"):
        open_engine(bundle, engine="native", precision="int8")


def test_native_refuses_a_model_that_is_not_histn():
    bundle = load_bundle(find_bundle("speech-adv"))
    with pytest.raises(BundleError, match="HiSTN's export form only") as err:
        open_engine(bundle, engine="native")
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    "channels, regions, samples",
    [
        pytest.param(
            ["Fp1", "Fp2", "F3", "F4", "C3"],
            [["Fp1", "F3"], ["Fp2", "F4", "C3"]],
            128,
            marks=pytest.mark.slow,  # each export takes seconds; one stays in the fast suite
        ),
        pytest.param(
            ["TP9", "AF7", "AF8", "TP10"],
            [["TP9", "AF7"], ["AF8", "TP10"]],
            256,
            marks=pytest.mark.slow,
        ),
        (
            ["Fp1", "Fp2", "C3", "C4", "P7", "P8", "O1", "O2"],
            [["Fp1", "C3"], ["P7", "O1"], ["O2", "P8"], ["C4", "Fp2"]],
            125,  # an odd window: the pooling drops a sample
        ),
    ],
)
def test_native_equals_onnx_on_random_graphs(channels, regions, samples):
    """Random weights (and kernel sizes) on three graphs, exported by the project's own ONNX
    export, read back by the native engine's reader and run by the C kernel."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    import onnxruntime as ort
    from edge.dsp._histn import HistnKernel

    from distill.students import create
    from quant.export_onnx import export_onnx

    torch.manual_seed(len(channels))
    kernel = {128: 64, 256: 33, 125: 16}[samples]
    net = create(
        "histn", channels=channels, regions=regions, kernel=kernel, maps=3 + len(channels) % 3
    )
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.3 * torch.randn_like(p))
        for _ in range(3):
            net.train()(torch.randn(16, 1, samples, len(channels)))
    net.eval()
    x = _windows((1, samples, len(channels)), 12, 1)
    example = torch.from_numpy(x[:1])
    data = export_onnx(net.for_export(example), example)
    want = ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(
        None, {"features": x}
    )[0]
    k = HistnKernel(**histn_weights(data, samples, len(channels)))
    got = np.empty((len(x), k.levels), np.float32)
    k.run_batch(np.ascontiguousarray(x[:, 0]), got)
    assert float(np.abs(want).max()) > 0.1
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)

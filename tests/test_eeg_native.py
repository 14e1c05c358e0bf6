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


def _export_form_reference(w: dict, x: np.ndarray) -> np.ndarray:
    """HiSTN's export form in float64 NumPy: x (samples, electrodes) -> scores (levels,)."""
    t, tb = w["temporal"].astype(np.float64), w["temporal_bias"].astype(np.float64)
    d, db = w["depth"].astype(np.float64), w["depth_bias"].astype(np.float64)
    head, hb = w["head"].astype(np.float64), w["head_bias"].astype(np.float64)
    samples, electrodes = x.shape
    maps, taps = t.shape
    xp = np.zeros((samples + taps, electrodes))
    xp[w["pad"] : w["pad"] + samples] = x
    y = np.stack([sum(t[m, k] * xp[k : k + samples] for k in range(taps)) for m in range(maps)])
    y = y + tb[:, None, None]
    y = np.where(y > 0, y, np.expm1(np.minimum(y, 0)))
    dpad = d.shape[1] // 2
    yp = np.pad(y, ((0, 0), (dpad, dpad), (0, 0)))
    z = np.stack(
        [sum(d[m, i] * yp[m, i : i + samples] for i in range(d.shape[1])) for m in range(maps)]
    )
    z = z + db[:, None, None]
    z = np.where(z > 0, z, np.expm1(np.minimum(z, 0)))
    half = samples // 2
    pooled = 0.5 * (z[:, 0 : 2 * half : 2] + z[:, 1 : 2 * half : 2])  # (maps, half, electrodes)
    return head.reshape(len(hb), -1) @ pooled.reshape(-1) + hb


@pytest.mark.parametrize(
    "electrodes, samples, taps, pad, maps, fft",
    [
        (14, 128, 64, 32, 4, 256),  # DREAMER's shapes: the FFT path
        (14, 125, 33, 16, 3, 256),  # odd window and kernel
        (20, 256, 64, 32, 4, 512),  # two lane blocks, the second partial
        (32, 128, 17, 8, 5, 256),  # two full blocks
        (9, 128, 64, 10, 4, 256),  # more pad after than before
        (6, 128, 64, 32, 4, 0),  # few electrodes: the direct conv
        (14, 128, 8, 4, 4, 0),  # a short kernel: the direct conv
    ],
)
def test_the_kernel_equals_a_float64_reference_on_both_paths(
    electrodes, samples, taps, pad, maps, fft
):
    """The C kernel (FFT or direct temporal conv) against the export form in float64 NumPy,
    on random weights; the path taken is the one the shapes call for."""
    from edge.dsp._histn import HistnKernel

    rng = np.random.default_rng(electrodes * 1000 + taps)
    levels = 5
    w = {
        "temporal": 0.3 * rng.standard_normal((maps, taps)),
        "temporal_bias": 0.1 * rng.standard_normal(maps),
        "depth": 0.5 * rng.standard_normal((maps, 5)),
        "depth_bias": 0.1 * rng.standard_normal(maps),
        "head": 0.02 * rng.standard_normal((levels, maps, samples // 2, electrodes)),
        "head_bias": 0.1 * rng.standard_normal(levels),
        "samples": samples,
        "electrodes": electrodes,
        "pad": pad,
    }
    w = {k: v.astype(np.float32) if isinstance(v, np.ndarray) else v for k, v in w.items()}
    k = HistnKernel(**w)
    assert k.fft_size == fft
    x = rng.standard_normal((6, samples, electrodes)).astype(np.float32)
    x[0] *= 8.0  # large inputs: deep into ELU's negative side
    got = np.empty((len(x), levels), np.float32)
    k.run_batch(x, got)
    want = np.stack([_export_form_reference(w, xi) for xi in x])
    assert float(np.abs(want).max()) > 0.1
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)
    # One window at a time, again and again on the same scratch, gives the same.
    one = np.empty(levels, np.float32)
    for i in (0, 5, 0):
        k.run(x[i], one)
        np.testing.assert_array_equal(one, got[i])

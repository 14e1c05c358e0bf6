"""Bundles found by name in one place, and front-end specs checked against their models at load."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edge.errors import BundleError
from edge.runtime import load_bundle
from edge.runtime.registry import MODELS_ENV, default_bundle, find_bundle, search_dirs, shipped_dir
from edge.runtime.specs import EegSpec, ImageSpec, LogMelSpec, NoFrontEnd, parse_front_end
from tests.bundles import dense_bundle

pytestmark = pytest.mark.device


def test_names_are_found_in_the_package_then_the_environment_then_extra_dirs(
    tmp_path, monkeypatch
) -> None:
    assert default_bundle("speech") == shipped_dir() / "speech-adv"
    env_dir, extra = tmp_path / "env", tmp_path / "extra"
    dense_bundle(env_dir / "mine", int8=False)
    dense_bundle(extra / "other.zip", int8=False, as_zip=True)
    monkeypatch.setenv(MODELS_ENV, str(env_dir))
    assert search_dirs([extra]) == [shipped_dir(), env_dir, extra]
    assert find_bundle("mine") == env_dir / "mine"
    assert find_bundle("other", [extra]) == extra / "other.zip"
    assert find_bundle(str(env_dir / "mine")) == env_dir / "mine"
    with pytest.raises(
        BundleError,
        match=r"bundle not found: nothing; looked in .*\(bundles there: eeg-valence, eeg-valence-cyton8, eeg-valence-muse4, face-detect, face-expr, mine, speech-adv\)",
    ):
        find_bundle("nothing")
    with pytest.raises(BundleError, match="is not a bundle"):
        find_bundle(str(tmp_path))
    assert default_bundle("face") == shipped_dir() / "face-expr"
    assert default_bundle("eeg") == shipped_dir() / "eeg-valence"
    with pytest.raises(BundleError, match="no default gait bundle"):
        default_bundle("gait")


def test_specs_parse_and_say_their_model_input() -> None:
    speech = parse_front_end(
        {"kind": "logmel", "sample_rate": 16000, "n_fft": 512, "n_mels": 40, "window_frames": 100}
    )
    assert isinstance(speech, LogMelSpec) and speech.input_shape() == (1, 100, 40)
    assert speech.win_length == 512 and speech.fmax == 8000.0  # derived defaults made explicit
    assert parse_front_end(speech.to_dict()) == speech
    face = parse_front_end(
        {"kind": "image", "height": 64, "width": 64, "color": "grey", "layout": "nhwc"}
    )
    assert isinstance(face, ImageSpec) and face.input_shape() == (64, 64, 1)
    eeg = parse_front_end(
        {"kind": "eeg", "rate_hz": 128, "channels": ["AF3", "F7"], "window_s": 1.0}
    )
    assert isinstance(eeg, EegSpec) and eeg.input_shape() == (1, 128, 2)
    assert parse_front_end({"kind": "none"}) == NoFrontEnd()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"kind": "logmel", "n_fft": 500}, r"not a valid log-mel configuration.*power of two"),
        ({"kind": "logmel", "n_mels": 40, "hop": 3}, r"unknown field\(s\) \['hop'\]"),
        ({"kind": "logmel", "update_s": 0}, r"front_end.update_s: must be > 0"),
        ({"kind": "logmel", "window_norm": "max"}, r"window_norm: is 'max'"),
        ({"kind": "logmel", "dc_pole": 1.0}, r"dc_pole: must be in \[0, 1\)"),
        ({"kind": "image", "color": "cmyk"}, r"color: is 'cmyk'"),
        ({"kind": "eeg", "channels": []}, r"channels: must list the electrode names"),
        ({"kind": "eeg", "channels": ["O1", "O1"]}, r"names a channel twice"),
        ({"kind": "audio"}, r"front_end.kind: is 'audio'"),
    ],
)
def test_bad_specs_name_the_field(data, message) -> None:
    with pytest.raises(BundleError, match=message):
        parse_front_end(data)


def test_a_front_end_that_disagrees_with_its_model_fails_at_load(tmp_path: Path) -> None:
    # The case from the issue: the default bundle copied, its front end set to 64 mel bands.
    copy = tmp_path / "speech-64"
    shutil.copytree(default_bundle("speech"), copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["front_end"]["n_mels"] = 64
    (copy / "manifest.json").write_text(json.dumps(manifest))
    expected = (
        r"front_end \(logmel\) produces model inputs of shape \[1, 100, 64\] per example, but "
        r"models\[0\] \(model_fp32.onnx\) input 'features' takes \['batch', 1, 100, 40\]"
    )
    with pytest.raises(BundleError, match=expected):
        load_bundle(copy)
    done = subprocess.run(
        [str(Path(sys.executable).parent / "affect-edge"), "models", "verify", str(copy)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and "the front end and the model disagree" in done.stderr
    assert done.stderr.count("\n") == 1  # one line, no traceback


def test_each_pipeline_refuses_another_modalitys_bundle() -> None:
    from edge.pipelines.eeg import EegPipeline
    from edge.pipelines.face import FacePipeline
    from edge.pipelines.speech import SpeechPipeline

    speech = load_bundle(find_bundle("speech-adv"))
    eeg = load_bundle(find_bundle("eeg-valence"))
    face = load_bundle(find_bundle("face-expr"))
    with pytest.raises(
        BundleError,
        match=rf"an EEG pipeline needs an EEG bundle .*\(this one is speech with a {LogMelSpec.kind} front end\)",
    ):
        EegPipeline(speech, 128, eeg.manifest.front_end.channels)
    with pytest.raises(
        BundleError,
        match=rf"a speech pipeline needs .*\(this one is eeg with a {EegSpec.kind} front end\)",
    ):
        SpeechPipeline(eeg)
    with pytest.raises(
        BundleError,
        match=rf"a face pipeline needs a face classification bundle .*\(this one is eeg/ordinal with a {EegSpec.kind} front end\)",
    ):
        FacePipeline(eeg)
    with pytest.raises(BundleError, match="a speech pipeline needs"):
        SpeechPipeline(face)

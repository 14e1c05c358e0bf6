"""The modality registry: a modality is one registration, and `affect-edge run` and the daemon take
it with no other change; options are typed, validated once, and named in every error."""

from __future__ import annotations

import json
import math
import threading
import time
from dataclasses import dataclass

import numpy as np
import pytest

from devices.frame import Frame
from devices.source import Source
from edge import modalities
from edge.cli.main import main
from edge.daemon.config import parse_config
from edge.daemon.runner import Daemon
from edge.errors import ConfigError
from edge.events import AffectEvent
from edge.modalities.face import FaceOptions
from edge.modalities.options import StreamOptions, number

pytestmark = pytest.mark.device


# --- a toy modality, defined here and nowhere else ------------------------------------------------
@dataclass(frozen=True)
class ToyOptions(StreamOptions):
    #: Each event's value is the frame's mean times this.
    gain: float = 1.0
    #: Frames per second of the counting source.
    rate_hz: float = 10.0

    def check(self) -> None:
        super().check()
        number("gain", self.gain, 0, 10, lo_open=True)
        number("rate_hz", self.rate_hz, 0.1, 1000)


class CountingSource(Source):
    """``count:N``: N one-sample frames holding 0, 1, ..., N-1."""

    kind = "toy"

    def __init__(self, n: int, rate_hz: float) -> None:
        super().__init__(f"count:{n}")
        self.n, self._rate, self._next = n, rate_hz, 0

    @property
    def rate_hz(self) -> float:
        return self._rate

    @property
    def channels(self) -> tuple[str, ...]:
        return ("x",)

    def _open(self) -> None:
        pass

    def _read(self, timeout_s: float | None) -> Frame | None:
        if self._next >= self.n:
            return None
        i = self._next
        self._next += 1
        data = np.full((1, 1), float(i), np.float32)
        return Frame(data, i / self._rate, self._rate, ("x",), "toy", self.id, i)

    def _close(self) -> None:
        pass


class ScalePipeline:
    """One event per frame: its mean times the gain."""

    def __init__(self, gain: float, on_event=None) -> None:
        self.gain, self.on_event, self.events = gain, on_event, 0

    def push(self, frame: Frame) -> tuple[AffectEvent, ...]:
        event = AffectEvent(
            modality="toy",
            source=frame.source,
            model="scale",
            model_version=1,
            start_s=frame.start_s,
            end_s=frame.end_s,
            values={"scaled": float(frame.data.mean()) * self.gain},
            updated=True,
            quality={},
            latency_ms={"total": 0.0},
            seq=self.events,
        )
        self.events += 1
        if self.on_event is not None:
            self.on_event(event)
            return ()
        return (event,)

    def flush(self) -> tuple[AffectEvent, ...]:
        return ()

    def stats(self) -> dict:
        return {"events": self.events}

    def close(self) -> None:
        pass

    def __enter__(self) -> ScalePipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_source(uri: str, options: ToyOptions, bundles) -> CountingSource:
    return CountingSource(int(uri.split(":", 1)[1]), options.rate_hz)


def build_pipeline(bundles, source, options: ToyOptions, mode: str = "sync", on_event=None):
    return ScalePipeline(options.gain, on_event)


@pytest.fixture
def toy():
    modality = modalities.register(
        modalities.Modality(
            name="toy",
            options=ToyOptions,
            schemes=("count:",),
            default_bundle="",
            open_source=open_source,
            build_pipeline=build_pipeline,
            load_bundles=lambda modality, options: None,
            sample=lambda folder, speed: ("count:24", ToyOptions(rate_hz=2.0, speed=speed)),
        )
    )
    yield modality
    modalities.unregister("toy")


# --- the toy through the CLI and the daemon -------------------------------------------------------
def test_a_registered_modality_runs_through_affect_edge_run(toy, capsys) -> None:
    assert main(["run", "toy", "count:5", "--gain", "2", "--json"]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [e["values"]["scaled"] for e in events] == [0.0, 2.0, 4.0, 6.0, 8.0]
    assert {e["modality"] for e in events} == {"toy"}
    assert [e["start_s"] for e in events] == [0.0, 0.1, 0.2, 0.3, 0.4]


def test_its_bad_options_are_one_line_naming_the_flag(toy, capsys) -> None:
    assert main(["run", "toy", "count:5", "--gain", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "--gain: must be in (0, 10], got 0.0" in err
    assert main(["run", "toy", "mic"]) == 2
    assert "'mic' is not a toy source (file:PATH or count:...)" in capsys.readouterr().err


def test_a_registered_modality_runs_in_the_daemon_from_its_toml_table(toy, tmp_path) -> None:
    events = tmp_path / "events.jsonl"
    data = {
        "toy": {"source": "count:8", "gain": 0.5, "rate_hz": 1000.0},
        "sinks": [{"kind": "jsonl", "path": str(events)}],
        "report_s": 0,
    }
    config = parse_config(data, "toy.toml", tmp_path)
    (stream,) = config.modalities
    assert stream.options == ToyOptions(gain=0.5, rate_hz=1000.0)
    daemon = Daemon(config)
    try:
        deadline = time.monotonic() + 20
        while daemon.running() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert daemon.snapshot()["modalities"]["toy"]["frames"] == 8
    finally:
        daemon.close()
    got = [json.loads(line) for line in events.read_text().splitlines()]
    assert [e["values"]["scaled"] for e in got] == [0.5 * i for i in range(8)]


def test_the_daemon_names_the_toml_key_of_a_bad_option(toy, tmp_path) -> None:
    sinks = [{"kind": "jsonl", "path": str(tmp_path / "e.jsonl")}]
    cases = {
        "gain": (11, "toy.toml [toy].gain: must be in (0, 10], got 11"),
        "rate_hz": ("fast", "toy.toml [toy].rate_hz: expected int or float, got str 'fast'"),
        "volume": (3, "toy.toml [toy]: unknown key 'volume'; known: bundle, engine, gain"),
    }
    for key, (value, message) in cases.items():
        data = {"toy": {"source": "count:3", key: value}, "sinks": sinks}
        with pytest.raises(ConfigError) as info:
            parse_config(data, "toy.toml", tmp_path)
        assert str(info.value).startswith(message), str(info.value)


def test_a_registered_modality_with_a_sample_runs_in_the_demo(toy, capsys) -> None:
    assert main(["demo", "--speed", "50", "--json"]) == 0
    together = json.loads(capsys.readouterr().out)["together"]
    assert together["events"]["toy"] == 24  # 12 s of counting at 2 Hz, beside the others
    assert together["events"]["speech"] > 0 and together["events"]["eeg"] > 0


# --- the options classes -----------------------------------------------------------------------
def test_options_are_frozen_and_their_defaults_live_in_one_place() -> None:
    options = FaceOptions()
    assert (options.detect_every, options.smoothing) == (3, 0.6)
    assert FaceOptions.default("detect_every") == 3
    with pytest.raises(AttributeError):
        options.detect_every = 1  # type: ignore[misc]
    for value, problem in [
        (0, "detect_every: must be in [1, 1000], got 0"),
        (math.nan, "detect_every: must be a finite number, got nan"),
    ]:
        with pytest.raises(ConfigError, match=problem.replace("[", r"\[").replace("(", r"\(")):
            FaceOptions(detect_every=value)


def test_the_built_in_modalities_are_registered_in_their_order() -> None:
    assert modalities.names()[:3] == ("speech", "face", "eeg")
    assert modalities.get("eeg").fits("board:synthetic")
    assert not modalities.get("speech").fits("camera:0")
    with pytest.raises(ConfigError, match="no modality named 'smell'"):
        modalities.get("smell")


def test_a_stop_reaches_a_live_toy_source_between_frames() -> None:
    # The registry's `opened` and the runner together: a stop from another thread ends a run.
    modalities.register(
        modalities.Modality(
            "toy",
            ToyOptions,
            ("count:",),
            "",
            open_source,
            build_pipeline,
            lambda modality, options: None,
        )
    )
    try:
        from edge.stream import EventList, run

        stop, seen = threading.Event(), EventList()
        with modalities.opened("toy", "count:1000000") as (source, pipeline):
            threading.Timer(0.2, stop.set).start()
            result = run(source, pipeline, (seen,), pace=1.0, stop=stop)
        assert result.interrupted and 1 <= result.frames < 1000
    finally:
        modalities.unregister("toy")

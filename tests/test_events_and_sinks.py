"""AffectEvent v2 against its JSON Schema, and the JSON-lines sink's promise of whole lines."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from edge.errors import ConfigError
from edge.events import SCHEMA_VERSION, AffectEvent, schema
from edge.sinks import JsonLinesSink, Sink

pytestmark = pytest.mark.device


def event(i: int = 0, **changes) -> AffectEvent:
    fields = dict(
        modality="face",
        source="camera:0",
        model="face-expr",
        model_version="1",
        start_s=1.0 + i,
        end_s=1.0 + i + 1 / 15,
        # Class names that match event fields cannot collide: values are nested.
        values={"happy": 0.7, "quality": 0.1, "source": 0.2},
        updated=True,
        quality={"score": 0.93, "blurred": False},
        latency_ms={"front_end": 1.5, "model": 0.4, "total": 2.0},
        subject={"id": 3, "box": [10.0, 20.0, 64.0, 64.0]},
        seq=i,
    )
    fields.update(changes)
    return AffectEvent(**fields)


def test_events_validate_round_trip_and_keep_values_nested() -> None:
    e = event()
    d = e.to_dict()
    jsonschema.validate(d, schema())
    assert d["schema_version"] == SCHEMA_VERSION == 2
    assert d["values"]["quality"] == 0.1 and d["quality"] == {"score": 0.93, "blurred": False}
    assert AffectEvent.from_dict(json.loads(e.to_json())) == e
    assert "\n" not in e.to_json()


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d.pop("updated"),
        lambda d: d.update(values={"arousal": "high"}),
        lambda d: d.update(latency_ms={"model": 1.0}),
        lambda d: d.update(schema_version=1),
        lambda d: d.update(voiced=True),
        lambda d: d["model"].pop("version"),
    ],
)
def test_the_schema_refuses_malformed_events(change) -> None:
    d = event().to_dict()
    change(d)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(d, schema())


def test_nan_values_never_reach_a_line() -> None:
    with pytest.raises(ValueError):
        event(values={"happy": float("nan")}).to_json()


def test_jsonl_file_appends_whole_lines_and_repairs_a_torn_one(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    with JsonLinesSink(path) as sink:
        assert isinstance(sink, Sink)
        for i in range(3):
            sink.write(event(i))
    # A crash mid-line on an earlier run leaves a fragment; the next run cuts it off.
    with path.open("a") as f:
        f.write('{"schema_version": 2, "seq": 9, "modal')
    with JsonLinesSink(path) as sink:
        assert sink.repaired_bytes == len('{"schema_version": 2, "seq": 9, "modal')
        sink.write(event(3))
        assert (sink.written, sink.dropped) == (1, 0)
    lines = path.read_text().splitlines()
    assert [json.loads(line)["seq"] for line in lines] == [0, 1, 2, 3]
    assert oct(path.stat().st_mode & 0o777) == "0o640"


def test_a_killed_writer_leaves_only_whole_lines(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    script = f"""
import os, signal
from tests.test_events_and_sinks import event
from edge.sinks import JsonLinesSink
sink = JsonLinesSink({str(path)!r})
for i in range(100000):
    sink.write(event(i))
    if i == 5000:
        os.kill(os.getpid(), signal.SIGKILL)
"""
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=Path(__file__).parents[1], timeout=120
    )
    assert done.returncode == -9
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b""  # the file ends with a newline: no fragment
    assert [json.loads(line)["seq"] for line in lines[:-1]] == list(range(5001))


def test_bad_targets_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a directory"):
        JsonLinesSink(tmp_path)
    with pytest.raises(ConfigError, match="does not exist"):
        JsonLinesSink(tmp_path / "missing" / "e.jsonl")


def test_stdout_sink_and_a_closed_pipe(tmp_path: Path) -> None:
    script = """
from tests.test_events_and_sinks import event
from edge.sinks import JsonLinesSink
sink = JsonLinesSink("-")
try:
    for i in range(100000):
        sink.write(event(i))
except BrokenPipeError:
    import os, sys
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    print("stopped", sink.written, file=sys.stderr)
"""
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=Path(__file__).parents[1],
    )
    first = proc.stdout.readline()
    proc.stdout.close()
    _, err = proc.communicate(timeout=60)
    assert json.loads(first)["seq"] == 0
    assert proc.returncode == 0 and b"stopped" in err


def test_a_size_limited_file_rotates_whole_files(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    with JsonLinesSink(path, max_bytes=4096, backups=2) as sink:
        for i in range(200):
            sink.write(event(i))
        rotations = sink.rotations
    files = sorted(tmp_path.iterdir())
    assert [f.name for f in files] == ["events.jsonl", "events.jsonl.1", "events.jsonl.2"]
    assert rotations > 2 and all(f.stat().st_size <= 4096 for f in files)
    seqs = []
    for f in (files[2], files[1], files[0]):  # oldest kept first
        seqs += [json.loads(line)["seq"] for line in f.read_text().splitlines()]
    assert seqs == list(range(200 - len(seqs), 200))  # the newest, in order, none torn
    with pytest.raises(ConfigError, match="max_bytes"):
        JsonLinesSink(path, max_bytes=10)

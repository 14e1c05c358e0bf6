"""The JSON-lines sink under faults, through real processes and the real kernel: it never appends
to a file it did not write (symbolic links, FIFOs, text files, JPEGs), and a full disk (a
file-size limit, RLIMIT_FSIZE) never tears the middle of the file: the lines that made it are
whole, in order, the lost ones counted, and the loss logged a bounded number of times."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edge.errors import ConfigError
from edge.sinks import JsonLinesSink
from tests.test_events_and_sinks import event

ROOT = Path(__file__).resolve().parents[1]
FACE = ROOT / "edge" / "data" / "samples" / "face_astronaut.jpg"


def test_a_symbolic_link_is_never_followed(tmp_path: Path) -> None:
    target = tmp_path / "precious.txt"
    target.write_text("do not touch")
    link = tmp_path / "events.jsonl"
    link.symlink_to(target)
    with pytest.raises(ConfigError, match="symbolic link"):
        JsonLinesSink(link)
    assert target.read_text() == "do not touch"
    # A link to a file of ours is refused as well: the sink names files, not links.
    ours = tmp_path / "ours.jsonl"
    with JsonLinesSink(ours) as sink:
        sink.write(event(0))
    (tmp_path / "link2.jsonl").symlink_to(ours)
    with pytest.raises(ConfigError, match="symbolic link"):
        JsonLinesSink(tmp_path / "link2.jsonl")


def test_only_regular_files(tmp_path: Path) -> None:
    fifo = tmp_path / "events.jsonl"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match="not a regular file"):
        JsonLinesSink(fifo)
    with pytest.raises(ConfigError, match="not a regular file"):
        JsonLinesSink("/dev/null")


@pytest.mark.parametrize(
    "content",
    [
        b"a note\nwithout a final newline",
        b"one line, no newline at all",
        b"an old list\n\n",
        b'{"a": 1}\n{"b": 2}\n',  # JSON lines, but not events
        FACE.read_bytes(),
        FACE.read_bytes()[:3000],
    ],
    ids=["text", "one-line", "blank-last", "json", "jpeg", "jpeg-head"],
)
def test_a_file_that_is_not_ours_is_refused_untouched(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "notes.jsonl"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match="not an affect-edge event file") as info:
        JsonLinesSink(path)
    assert "\n" not in str(info.value)
    assert path.read_bytes() == content


def test_run_o_refuses_a_jpeg(tmp_path: Path) -> None:
    photo = tmp_path / "photo.jsonl"
    photo.write_bytes(FACE.read_bytes())
    out = subprocess.run(
        [
            str(Path(sys.executable).parent / "affect-edge"),
            "run",
            "speech",
            str(ROOT / "edge" / "data" / "samples" / "speech_en.wav"),
            "-o",
            str(photo),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2, out.stderr[-2000:]
    assert "not an affect-edge event file" in out.stderr and "Traceback" not in out.stderr
    assert photo.read_bytes() == FACE.read_bytes()


def test_our_own_torn_first_line_is_still_repaired(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(event(0).to_json().encode()[:25])  # a crash mid-way through line one
    with JsonLinesSink(path) as sink:
        assert sink.repaired_bytes == 25
        sink.write(event(1))
    assert [json.loads(x)["seq"] for x in path.read_text().splitlines()] == [1]


FULL_DISK = """
import json, logging, resource, sys
from tests.test_events_and_sinks import event
from edge.sinks import JsonLinesSink
logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(message)s")
path, limit = sys.argv[1], int(sys.argv[2])
sink = JsonLinesSink(path)
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
for i in range(4000):          # the disk fills up part-way
    sink.write(event(i))
full = (sink.written, sink.dropped)
resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
for i in range(4000, 4100):    # space returns
    sink.write(event(i))
sink.close()
print(json.dumps({"full": full, "written": sink.written, "dropped": sink.dropped,
                  "rolled_back": sink.rolled_back_bytes}))
"""


def test_a_full_disk_keeps_whole_lines_counts_and_logs_once(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    limit = 64 * 1024 + 77  # not on a line boundary: the last write is short
    out = subprocess.run(
        [sys.executable, "-c", FULL_DISK, str(path), str(limit)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    counts = json.loads(out.stdout)
    written_full, dropped_full = counts["full"]
    assert written_full + dropped_full == 4000 and dropped_full > 3000
    assert counts["rolled_back"] > 0  # the short write was cut back
    assert counts["written"] == written_full + 100 and counts["dropped"] == dropped_full
    data = path.read_bytes()
    assert data.endswith(b"\n")
    seqs = [json.loads(line)["seq"] for line in data.splitlines()]  # every line whole
    assert seqs == list(range(written_full)) + list(range(4000, 4100))
    errors = [line for line in out.stderr.splitlines() if line.startswith("ERROR")]
    assert 1 <= len(errors) <= 2, out.stderr[-2000:]  # one per 10 s, not one per event
    assert "not written" in errors[0] and "whole lines" in errors[0]


def test_a_rotating_file_removed_mid_run_never_closes_another_files_descriptor(
    tmp_path: Path,
) -> None:
    """`rm events.jsonl` under a rotating sink: the rotation's rename fails. The sink once closed
    its file before that rename and kept the closed number, and its next rotation closed whatever
    had opened that number since (in the daemon: the WAV reader, a client socket)."""
    path = tmp_path / "events.jsonl"
    sink = JsonLinesSink(path, max_bytes=1024, backups=2)
    for i in range(3):
        sink.write(event(i))
    path.unlink()
    other = open(tmp_path / "other.txt", "w")  # noqa: SIM115  (kept open across the writes)
    try:
        for i in range(3, 30):  # several rotations
            sink.write(event(i))
        other.write("still mine\n")
        other.flush()  # EBADF here if the sink had closed this descriptor
        os.fstat(other.fileno())
    finally:
        other.close()
        sink.close()
    assert (tmp_path / "other.txt").read_text() == "still mine\n"
    assert sink.dropped == 0 and sink.written == 30
    lines = [json.loads(x) for p in sorted(tmp_path.glob("events.jsonl*")) for x in p.open()]
    assert lines and all(r["modality"] == "face" for r in lines)


def test_a_file_moved_away_or_removed_is_started_again_at_its_path(tmp_path: Path, monkeypatch):
    """logrotate's `mv events.jsonl events.jsonl.1` (then SIGHUP), or an `rm`: later events go to
    a new file at the path, not into a file nobody can see."""
    import edge.sinks.jsonl as jsonl

    monkeypatch.setattr(jsonl, "CHECK_EVERY_S", 0.0)
    path = tmp_path / "events.jsonl"
    sink = JsonLinesSink(path)
    sink.write(event(0))
    path.rename(tmp_path / "events.jsonl.1")
    sink.write(event(1))
    path.unlink()
    sink.write(event(2))
    sink.close()
    assert sink.reopened == 2 and sink.written == 3 and sink.dropped == 0
    assert [json.loads(x)["seq"] for x in (tmp_path / "events.jsonl.1").open()] == [0]
    assert [json.loads(x)["seq"] for x in path.open()] == [2]


def test_two_writers_never_share_one_event_file(tmp_path: Path) -> None:
    """Two daemons (or a daemon and `run -o`) named the same file and interleaved their lines
    and rotations; the second is now refused in one line while the first writes."""
    path = tmp_path / "events.jsonl"
    first = JsonLinesSink(path)
    try:
        with pytest.raises(ConfigError, match="another sink or process is writing to it"):
            JsonLinesSink(path)
    finally:
        first.close()
    JsonLinesSink(path).close()  # free again once the first has closed

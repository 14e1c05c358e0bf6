"""Pseudo-labelling: run a teacher once over a corpus and cache its A/D/V per segment and variant.

Items are (file, segment, augmentation variant). The cache is a folder of JSON-lines files, one
per rank, appended after every batch, so an interrupted run resumes where it stopped. Under
`torchrun` (RANK / WORLD_SIZE set) each rank labels the items whose index is its rank modulo the
world size; with gloo on CPU a barrier lets rank 0 report the merged cache. A corpus of any size
scales across machines this way; nothing else is shared between ranks.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from distill.audio import Item, augment, list_audio, load_16k, segments, speaker_of
from distill.features import file_features, segment_frames, speech_features
from distill.teachers.base import Teacher
from edge.errors import ConfigError, SourceError

log = logging.getLogger(__name__)


def rank_and_world() -> tuple[int, int]:
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def plan(
    folder: Path, segment_s: float, variants: int, speaker_regex: str | None
) -> tuple[list[Item], dict[str, int]]:
    """Every item of the corpus, and how many segments each file has. Unreadable files are skipped."""
    items, n_segments = [], {}
    for path in list_audio(folder):
        rel = path.relative_to(folder).as_posix()
        try:
            count = len(segments(load_16k(path), segment_s))
        except SourceError as exc:
            log.warning("skipping %s", exc)
            continue
        n_segments[rel] = count
        speaker = speaker_of(rel, speaker_regex)
        items += [Item(rel, s, v, speaker) for s in range(count) for v in range(variants + 1)]
    return items, n_segments


def load_cache(cache: Path) -> dict[str, list[float]]:
    labels = {}
    for part in sorted(cache.glob("labels.rank*.jsonl")):
        for line in part.read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                labels[row["key"]] = row["adv"]
    return labels


def audio_of(folder: Path, item: Item, segment_s: float, _memo: dict | None = None) -> np.ndarray:
    """The (augmented) segment an item stands for, regenerated deterministically."""
    memo = _memo if _memo is not None else {}
    if item.file not in memo:
        memo.clear()
        memo[item.file] = segments(load_16k(folder / item.file), segment_s)
    return augment(memo[item.file][item.segment], f"{item.file}|{item.segment}", item.variant)


def item_features(folder: Path, item: Item, segment_s: float, memo: dict) -> np.ndarray:
    """The student's input features for an item: for the clean variant, the file's own frames as
    the device computes them (file at its rate, sliced to the segment); for augmented variants,
    the front end over the augmented 16 kHz segment."""
    if item.variant == 0:
        key = ("frames", item.file)
        if key not in memo:
            memo.clear()
            memo[key] = file_features(folder / item.file)
        return segment_frames(memo[key], item.segment, segment_s)
    return speech_features(audio_of(folder, item, segment_s, memo))


FINGERPRINT = "fingerprint.json"


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def teacher_files_digest(spec: str) -> str:
    """sha256 over every file each teacher of a spec (KIND:PATH[*W]+...) is read from."""
    h = hashlib.sha256()
    for part in spec.split("+"):
        body = part.strip().rsplit("*", 1)[0] if "*" in part else part.strip()
        kind, _, where = body.partition(":")
        path = Path(where)
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        h.update(kind.encode())
        for f in files:
            if f.is_file():
                h.update(f.name.encode())
                h.update(file_digest(f).encode())
    return h.hexdigest()


def cache_fingerprint(
    teacher: Teacher,
    teacher_spec: str | None,
    folder: Path,
    files: list[str],
    segment_s: float,
    variants: int,
) -> dict:
    """Everything that shapes the cached labels: the teacher (its name and the files it is read
    from), the teacher's input (16 kHz segments, augmentation variants), the data (each audio
    file's relative name and content hash) and the device front end the features are made with."""
    from distill.features import front_end_dict

    data = hashlib.sha256()
    for rel in files:
        data.update(rel.encode() + b"\0" + file_digest(folder / rel).encode() + b"\n")
    return _plain(
        {
            "teacher": teacher.name,
            "teacher_files_sha256": teacher_files_digest(teacher_spec) if teacher_spec else None,
            "segment_s": float(segment_s),
            "variants": int(variants),
            "augment": "distill.audio.augment/1",
            "front_end": front_end_dict(),
            "data_files": len(files),
            "data_sha256": data.hexdigest(),
        }
    )


def _plain(value: dict) -> dict:
    """As it reads back from JSON (tuples as lists), so a stored fingerprint compares equal."""
    return json.loads(json.dumps(value))


def check_cache(cache: Path, fingerprint: dict, relabel: bool) -> None:
    """Labels in `cache` are reused only if made under this very fingerprint. A different (or
    unrecorded) one is refused, or with `relabel` the old labels are removed first."""
    parts = sorted(cache.glob("labels.rank*.jsonl"))
    stored_path = cache / FINGERPRINT
    stored = json.loads(stored_path.read_text()) if stored_path.is_file() else None
    if stored == fingerprint:
        return
    if parts and not relabel:
        if stored is None:
            why = "it records nothing of the teacher, data or settings that made its labels"
        else:
            differ = sorted(
                k for k in {*stored, *fingerprint} if stored.get(k) != fingerprint.get(k)
            )
            why = "its labels were made with a different " + ", ".join(differ)
        raise ConfigError(
            f"the teacher-label cache {cache} does not match this run: {why}; pass --relabel "
            "to label again (the old labels are removed), or give another --cache"
        )
    for part in parts:
        part.unlink()
    rank, _ = rank_and_world()
    tmp = cache / f"{FINGERPRINT}.{rank}.tmp"
    tmp.write_text(json.dumps(fingerprint, indent=1, sort_keys=True) + "\n")
    tmp.replace(stored_path)


def pseudo_label(
    teacher: Teacher,
    folder: str | Path,
    cache: str | Path,
    segment_s: float = 2.0,
    variants: int = 4,
    speaker_regex: str | None = None,
    batch: int = 8,
    progress: Callable[[str, int], Callable[[], None]] | None = None,
    teacher_spec: str | None = None,
    relabel: bool = False,
) -> tuple[list[Item], dict]:
    """Label every item not yet in the cache (this rank's share); return all items and the labels.

    The cache is keyed by `cache_fingerprint`: labels made by another teacher, on other data or
    with other segments or variants are never reused (refused, or removed with `relabel`)."""
    folder, cache = Path(folder), Path(cache)
    cache.mkdir(parents=True, exist_ok=True)
    rank, world = rank_and_world()
    items, n_segments = plan(folder, segment_s, variants, speaker_regex)
    fingerprint = cache_fingerprint(
        teacher, teacher_spec, folder, sorted(n_segments), segment_s, variants
    )
    if rank == 0:
        check_cache(cache, fingerprint, relabel)
    if world > 1:
        _barrier()
        if rank != 0:
            check_cache(cache, fingerprint, relabel=False)
    done = load_cache(cache)
    todo = [it for i, it in enumerate(items) if i % world == rank and it.key not in done]
    log.info(
        "rank %d/%d: %d items, %d already labelled, %d to label",
        rank,
        world,
        len(items),
        len(done),
        len(todo),
    )
    tick = (
        progress(f"teacher labels (rank {rank})", len(todo))
        if progress and todo
        else (lambda: None)
    )
    memo: dict = {}
    with (cache / f"labels.rank{rank}.jsonl").open("a") as out:
        for start in range(0, len(todo), batch):
            chunk = todo[start : start + batch]
            adv = teacher.predict([audio_of(folder, it, segment_s, memo) for it in chunk])
            for it, row in zip(chunk, adv, strict=True):
                out.write(
                    json.dumps({"key": it.key, "adv": [round(float(v), 6) for v in row]}) + "\n"
                )
                tick()
            out.flush()
    if world > 1:
        _barrier()
    return items, load_cache(cache)


def _barrier() -> None:
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("gloo")
    dist.barrier()


def main(argv: list[str] | None = None) -> None:
    """`python -m distill.pseudolabel` (or under `torchrun --nproc_per_node N -m distill.pseudolabel`)."""
    import argparse

    from distill.teachers import from_spec

    parser = argparse.ArgumentParser(
        prog="python -m distill.pseudolabel",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--teacher", required=True, help="teacher spec, as for `affect-edge distill speech`"
    )
    parser.add_argument("--audio", required=True, type=Path, help="folder of audio")
    parser.add_argument(
        "--cache", required=True, type=Path, help="cache folder (shared by all ranks)"
    )
    parser.add_argument("--segment-s", type=float, default=2.0)
    parser.add_argument("--variants", type=int, default=4)
    parser.add_argument("--speaker-regex")
    parser.add_argument("--relabel", action="store_true", help="relabel a mismatched cache")
    args = parser.parse_args(argv)
    items, labels = pseudo_label(
        from_spec(args.teacher),
        args.audio,
        args.cache,
        args.segment_s,
        args.variants,
        args.speaker_regex,
        teacher_spec=args.teacher,
        relabel=args.relabel,
    )
    rank, world = rank_and_world()
    print(json.dumps({"rank": rank, "world": world, "items": len(items), "labelled": len(labels)}))


if __name__ == "__main__":
    main()

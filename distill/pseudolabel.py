"""Pseudo-labelling: run a teacher once over a corpus and cache its A/D/V per segment and variant.

Items are (file, segment, augmentation variant). The cache is a folder of JSON-lines files, one
per rank, appended after every batch, so an interrupted run resumes where it stopped. Under
`torchrun` (RANK / WORLD_SIZE set) each rank labels the items whose index is its rank modulo the
world size; with gloo on CPU a barrier lets rank 0 report the merged cache. A corpus of any size
scales across machines this way; nothing else is shared between ranks.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from distill.audio import Item, augment, list_audio, load_16k, segments, speaker_of
from distill.features import file_features, segment_frames, speech_features
from distill.teachers.base import Teacher
from edge.errors import SourceError

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


def pseudo_label(
    teacher: Teacher,
    folder: str | Path,
    cache: str | Path,
    segment_s: float = 2.0,
    variants: int = 4,
    speaker_regex: str | None = None,
    batch: int = 8,
    progress: Callable[[str, int], Callable[[], None]] | None = None,
) -> tuple[list[Item], dict]:
    """Label every item not yet in the cache (this rank's share); return all items and the labels."""
    folder, cache = Path(folder), Path(cache)
    cache.mkdir(parents=True, exist_ok=True)
    rank, world = rank_and_world()
    items, _ = plan(folder, segment_s, variants, speaker_regex)
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
        import torch.distributed as dist

        if not dist.is_initialized():
            dist.init_process_group("gloo")
        dist.barrier()
    return items, load_cache(cache)


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
    args = parser.parse_args(argv)
    items, labels = pseudo_label(
        from_spec(args.teacher),
        args.audio,
        args.cache,
        args.segment_s,
        args.variants,
        args.speaker_regex,
    )
    rank, world = rank_and_world()
    print(json.dumps({"rank": rank, "world": world, "items": len(items), "labelled": len(labels)}))


if __name__ == "__main__":
    main()

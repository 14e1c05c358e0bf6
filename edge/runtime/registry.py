"""Finding bundles: by path, or by name in the package's own models, $AFFECT_EDGE_MODELS and --dir.

The bundles that ship with affect-edge are package data under `edge/models/`, so an installed
wheel carries them. A name is looked up in that folder first, then in each folder listed in
$AFFECT_EDGE_MODELS (separated like PATH), then in folders a command names with --dir. A bundle
is a folder holding manifest.json, or a .zip file; its name is the folder's (or the zip's stem).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from importlib import resources
from pathlib import Path

from edge.errors import BundleError
from edge.runtime.specs import electrode_key

MODELS_ENV = "AFFECT_EDGE_MODELS"
#: The bundle each modality uses when none is named.
DEFAULTS = {
    "speech": "speech-adv",
    "face": "face-expr",
    "face-detect": "face-detect",
    "eeg": "eeg-valence",
}


def shipped_dir() -> Path:
    return Path(str(resources.files("edge").joinpath("models")))


def search_dirs(extra: Iterable[str | os.PathLike[str]] = ()) -> list[Path]:
    """The package's models, then $AFFECT_EDGE_MODELS, then `extra`, in lookup order."""
    env = [Path(p) for p in os.environ.get(MODELS_ENV, "").split(os.pathsep) if p]
    return [shipped_dir(), *env, *(Path(p) for p in extra)]


def is_bundle(path: Path) -> bool:
    return (path.is_dir() and (path / "manifest.json").is_file()) or (
        path.is_file() and path.suffix == ".zip"
    )


def bundles_in(folder: Path) -> Iterator[Path]:
    """Bundle paths directly inside a folder, sorted by name (none if it does not exist)."""
    if folder.is_dir():
        yield from sorted(p for p in folder.iterdir() if is_bundle(p))


def find_bundle(
    name_or_path: str | os.PathLike[str], extra: Iterable[str | os.PathLike[str]] = ()
) -> Path:
    """A bundle's path from a path, or from a name looked up in `search_dirs(extra)`."""
    path = Path(name_or_path)
    if path.exists():
        if not is_bundle(path):
            raise BundleError(
                f"{path} is not a bundle: expected a folder with manifest.json, or a .zip"
            )
        return path
    looks_like_path = os.sep in str(name_or_path) or path.suffix == ".zip"
    dirs = search_dirs(extra)
    if not looks_like_path:
        for folder in dirs:
            for candidate in (folder / path.name, folder / f"{path.name}.zip"):
                if is_bundle(candidate):
                    return candidate
    known = sorted({p.stem if p.suffix == ".zip" else p.name for d in dirs for p in bundles_in(d)})
    where = "bundle not found: " + str(name_or_path)
    if looks_like_path:
        raise BundleError(where)
    raise BundleError(
        f"{where}; looked in {', '.join(str(d) for d in dirs)} "
        f"(bundles there: {', '.join(known) or 'none'}); set ${MODELS_ENV} or pass a path"
    )


def default_bundle(modality: str) -> Path:
    """The shipped default bundle of a modality."""
    if modality not in DEFAULTS:
        raise BundleError(
            f"no default {modality} bundle ships with this affect-edge; pass --bundle"
        )
    return find_bundle(DEFAULTS[modality])


def covers(channels: Iterable[str], wanted: Iterable[str]) -> bool:
    """Whether a source's `channels` include every `wanted` electrode (`electrode_key`)."""
    have = {electrode_key(c) for c in channels}
    return all(electrode_key(w) in have for w in wanted)


def eeg_bundle_for(channels: Iterable[str], extra: Iterable[str | os.PathLike[str]] = ()):
    """The EEG bundle (a loaded `Bundle`) with the most electrodes that `channels` all cover,
    looked up as names are; None when no bundle fits. Ties go to the first folder, then to the
    name."""
    from edge.runtime.bundle import load_bundle

    channels = list(channels)
    best = None
    for folder in search_dirs(extra):
        for path in bundles_in(folder):
            try:
                bundle = load_bundle(path)
            except BundleError:
                continue  # a broken bundle beside the good ones is not this caller's concern
            if bundle.manifest.modality != "eeg":
                continue
            wanted = bundle.manifest.front_end.channels
            if covers(channels, wanted) and (
                best is None or len(wanted) > len(best.manifest.front_end.channels)
            ):
                best = bundle
    return best

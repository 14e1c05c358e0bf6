"""Where the offline commands write: checked before any work, never over what they did not write.

An output path that exists is replaced only when `--force` says so AND the thing there is what
affect-edge writes: a bundle is a folder (or .zip) holding a `manifest.json` and only the files
it lists; a checkpoint is a torch file whose header says `affect-edge-checkpoint/1`. Anything
else (a user's folder, a user's file, a file where a folder would go) is refused whatever the
flags say. The new output is written beside the old one and swapped in by rename only once it
is complete, so an interrupted or failed run leaves the old output as it was.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from edge.errors import ConfigError

MANIFEST = "manifest.json"


def check_writable(path: Path, option: str = "-o") -> None:
    """Refuse now, before any work, a path whose folder cannot be created or written."""
    path = Path(path)
    folder = path.parent
    while not folder.exists():
        if folder.parent == folder:
            break
        folder = folder.parent
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"{option} {path}: cannot write there, {folder} is a file, not a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".affect-edge-probe-", dir=folder)
    except OSError as exc:
        raise ConfigError(
            f"{option} {path}: cannot write in {folder} ({exc.strerror or exc}); "
            "choose a folder you can write to"
        ) from None
    os.close(fd)
    os.unlink(probe)


def bundle_problem(path: Path) -> str | None:
    """None if `path` is a bundle affect-edge wrote (and nothing else is inside); else why not."""
    if path.is_file():
        if not zipfile.is_zipfile(path):
            return "it is a file that is not a bundle"
        with zipfile.ZipFile(path) as z:
            if MANIFEST not in z.namelist():
                return f"it is a .zip without a {MANIFEST}"
        return None
    if not path.is_dir():
        return "it is neither a file nor a folder"
    try:
        manifest = json.loads((path / MANIFEST).read_text())
    except FileNotFoundError:
        return f"the folder holds no {MANIFEST}, so it is not a bundle"
    except (OSError, ValueError) as exc:
        return f"its {MANIFEST} is not readable JSON ({exc})"
    listed = {MANIFEST}
    entries = list(manifest.get("models", [])) if isinstance(manifest, dict) else []
    if isinstance(manifest, dict) and isinstance(manifest.get("reference"), dict):
        entries.append(manifest["reference"])
    listed |= {str(e.get("file")) for e in entries if isinstance(e, dict)}
    foreign = sorted(p.name for p in path.iterdir() if p.name not in listed or not p.is_file())
    if foreign:
        return f"the folder also holds {', '.join(foreign[:5])}, which the bundle does not list"
    return None


def not_a_checkpoint(path: Path, why: str) -> ConfigError:
    return ConfigError(
        f"{path} is not an affect-edge checkpoint: {why}; "
        "give the .pt that `affect-edge distill` wrote"
    )


def check_checkpoint_file(path: Path) -> None:
    """Refuse, before torch is loaded, a checkpoint path that is no file or no torch file (torch
    saves a zip archive)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"checkpoint not found: {path}")
    if not zipfile.is_zipfile(path):
        raise not_a_checkpoint(path, "it is not a torch file (torch saves a zip archive)")


def checkpoint_problem(path: Path) -> str | None:
    """None if `path` is an affect-edge checkpoint (by its header); else why not."""
    if not path.is_file():
        return "it is not a file"
    if not zipfile.is_zipfile(path):  # (no torch file; said before torch is loaded)
        return "it is not a torch checkpoint"
    import torch

    from distill.checkpoint import FORMAT

    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # torch raises many types for foreign files
        return "it is not a torch checkpoint"
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        return "it is not an affect-edge checkpoint"
    return None


def check_output(
    path: Path,
    force: bool,
    problem: Callable[[Path], str | None],
    what: str,
    option: str = "-o",
) -> None:
    """Refuse an output that exists without --force, or that is not ours even with it; check
    that its folder can be written. Call before any work."""
    path = Path(path)
    if path.exists() or path.is_symlink():
        if not force:
            raise ConfigError(f"{option} {path} already exists; pass --force to replace it")
        why = problem(path)
        if why is not None:
            raise ConfigError(
                f"{option} {path}: refusing to replace it even with --force: {why} "
                f"(affect-edge replaces only a {what} it wrote); choose another path"
            )
    check_writable(path, option)


def staging_path(out: Path) -> Path:
    """A fresh name beside `out` (same file system, so the final swap is a rename)."""
    return out.parent / f".{out.name}.new-{os.getpid()}"


def swap_in(staged: Path, out: Path) -> None:
    """Put `staged` at `out`; an old output there is moved aside first and removed last, and put
    back if the new one cannot be moved in."""
    old = None
    if out.exists() or out.is_symlink():
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        os.replace(out, old)
    try:
        os.replace(staged, out)
    except OSError:
        if old is not None:
            os.replace(old, out)
        raise
    if old is not None:
        shutil.rmtree(old) if old.is_dir() and not old.is_symlink() else old.unlink()

"""What a checkpoint records about its data: names relative to a declared root (never where the
data sat on the build machine), how many files, a fingerprint of their contents, and the data
set's own licence and credit next to the teacher's."""

from __future__ import annotations

import re
from pathlib import Path

_LICENCE = re.compile(r"^\s*[-*]?\s*licen[cs]e\s*:\s*(.+)$", re.IGNORECASE)


def relative_name(folder: Path, root: Path | None) -> str:
    """`folder` relative to `root` (its last two parts when no root is given or it lies outside)."""
    folder = Path(folder).resolve()
    if root is not None:
        try:
            return folder.relative_to(Path(root).resolve()).as_posix() or "."
        except ValueError:
            pass
    return "/".join(folder.parts[-2:])


def data_licence(folder: Path) -> str | None:
    """The 'Licence:' line of a README.md in the data folder or the two above it, if any."""
    here = Path(folder).resolve()
    for candidate in (here, *list(here.parents)[:2]):
        readme = candidate / "README.md"
        if readme.is_file():
            for line in readme.read_text(errors="replace").splitlines():
                found = _LICENCE.match(line)
                if found:
                    return f"{candidate.name}: {found.group(1).strip()}"
    return None


def describe(folder: Path, root: Path | None, files: int, sha256: str) -> str:
    return f"{relative_name(folder, root)}: {files} audio files, content sha256 {sha256[:16]}"


def licence_text(teacher_licence: str, folder: Path) -> str:
    data = data_licence(folder)
    return f"teacher: {teacher_licence}; data: " + (
        data or "no licence found beside the data (state it before shipping)"
    )


#: The shared face arrays (data/faces/*.npz, by file name): what each is and on what terms.
FACE_DATA = {
    "fer2013": "FER2013 (Goodfellow et al. 2013; image rights never settled): research use only",
    "lfw-expressions": "LFW people with expression labels (muxspace/facial_expressions; news "
    "photos, rights with their owners): research use only",
    "genki4k": "GENKI-4K (MPLab, UC San Diego: cite 'The MPLab GENKI Database, GENKI-4K Subset'): "
    "research use",
}


def face_licence(faces: list[Path] | tuple[Path, ...], teachers: dict[str, str]) -> str:
    """A face student's licence text from what it was trained on: each `--faces` source's own
    terms (a shared array by its name; any other by the 'Licence:' line of a README beside it)
    and each teacher's (`teachers`: name -> licence)."""
    data, research = [], False
    for path in map(Path, faces):
        known = FACE_DATA.get(path.stem) if path.suffix == ".npz" else None
        research |= known is not None
        found = known or data_licence(path if path.is_dir() else path.parent)
        data.append(
            found or f"{path.name}: no licence found beside the data (state it before shipping)"
        )
    taught = "; ".join(f"{name}: {text}" for name, text in teachers.items()) or "none"
    head = "research / non-commercial: " if research else ""
    return f"{head}data: {'; '.join(data)}; teachers: {taught}"

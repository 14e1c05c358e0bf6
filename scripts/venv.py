"""`python scripts/X.py` from a fresh shell: a script whose modules this interpreter lacks runs
again under the project's own (.venv/bin/python, which `make setup` makes), or says in one line
how to get them. Call `project_python(...)` before the script's first third-party import."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv"
#: Set in the re-executed process, so a venv that lacks the modules too cannot loop.
_AGAIN = "AFFECT_EDGE_SCRIPT_REEXEC"


def missing(modules: tuple[str, ...]) -> list[str]:
    return [m for m in modules if importlib.util.find_spec(m) is None]


def project_python(*modules: str) -> None:
    """Return when every module imports here; else re-execute the script under .venv/bin/python,
    or exit 2 with one line naming what is missing and how to install it."""
    lacking = missing(modules)
    if not lacking:
        return
    python = VENV / "bin" / "python"
    here = Path(sys.prefix).resolve() == VENV.resolve()
    if python.exists() and not here and not os.environ.get(_AGAIN):
        os.environ[_AGAIN] = "1"
        os.execv(str(python), [str(python), *sys.argv])
    script = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "this script"
    sys.stderr.write(
        f"{script} needs {', '.join(lacking)}, which {sys.executable} does not have: run "
        f"`make setup` in {ROOT} (it makes .venv), or pip install -e '{ROOT}[train]'\n"
    )
    raise SystemExit(2)

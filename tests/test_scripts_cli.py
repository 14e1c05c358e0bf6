"""The scripts as the README shows them, `python scripts/X.py`, from a fresh shell whose python
lacks the project's modules: they run again under .venv/bin/python (scripts/venv.py), and
the build_default scripts' --output refuses a user's folder before any training."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def bare_python() -> str:
    """A python on this machine without numpy (the system one, as a fresh shell finds it)."""
    for candidate in ("/usr/bin/python3", shutil.which("python3") or ""):
        if candidate and Path(candidate).exists():
            probe = subprocess.run(
                [candidate, "-c", "import numpy"], capture_output=True, env=fresh_env()
            )
            if probe.returncode != 0:
                return candidate
    pytest.skip("every python here has numpy: no fresh-shell python to try")


def fresh_env() -> dict[str, str]:
    """No virtual environment active, as in a new terminal."""
    return {
        k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")
    } | {"PATH": "/usr/bin:/bin"}


def script(*argv: str, python: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [python or bare_python(), *argv],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=fresh_env(),
        timeout=120,
    )


@pytest.mark.parametrize(
    "name", ["build_default_eeg.py", "speech_quality.py", "build_default_speech.py"]
)
def test_a_script_runs_from_a_fresh_shell_through_the_project_venv(name: str) -> None:
    if not (ROOT / ".venv" / "bin" / "python").exists():
        pytest.skip("no .venv here")
    done = script(f"scripts/{name}", "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: {name}") and "Traceback" not in done.stderr


def test_a_script_without_a_venv_says_how_to_get_one_in_one_line() -> None:
    done = subprocess.run(
        [bare_python(), "scripts/build_default_eeg.py", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=fresh_env() | {"AFFECT_EDGE_SCRIPT_REEXEC": "1"},  # as if .venv lacked them too
        timeout=60,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "needs numpy, torch" in done.stderr
    assert "make setup" in done.stderr


@pytest.mark.parametrize(
    "name", ["build_default_eeg.py", "build_default_speech.py", "build_default_face.py"]
)
def test_a_build_script_refuses_a_users_folder_before_training(tmp_path: Path, name: str) -> None:
    mine = tmp_path / "thesis"
    mine.mkdir()
    (mine / "thesis.txt").write_text("four years\n")
    for flags, says in (
        ((), "already exists; pass --force to replace it"),
        (("--force",), "refusing to replace it even with --force"),
    ):
        done = script(f"scripts/{name}", "--output", str(mine), *flags)
        assert done.returncode == 2, done.stderr
        assert says in done.stderr and "Traceback" not in done.stderr
        assert "training on" not in done.stdout
    assert (mine / "thesis.txt").read_text() == "four years\n"

"""A fork server for the command-line cases: one Python process imports the entry point
(`edge.cli.main`, with numpy) once, then runs each command in a child forked from it, so a case
costs a fork instead of an interpreter start and its imports (about 1 s each, 80 cases).

Each child is a process of its own, as `affect-edge ARGS` would be: its own working folder and
environment, file descriptors 1 and 2 on files (what native libraries write there is captured
too), `sys.exit(main())`'s exit status, at-exit handlers run. What it cannot show is noise a
module prints while being imported by the server; tests of that (library noise, pipes, full
devices, missing extras) start the real `affect-edge` instead.

Protocol: one JSON request per line on the server's stdin ({"argv", "cwd", "env", "out", "err"}),
one JSON reply per line on its stdout ({"code"}).
"""

from __future__ import annotations

import atexit
import contextlib
import io
import json
import os
import select
import subprocess
import sys
import traceback
from pathlib import Path


def _child(request: dict) -> int:
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    for fd, path in ((1, request["out"]), (2, request["err"])):
        target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(target, fd)
        os.close(target)
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), write_through=False)
    sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), line_buffering=True)
    null = os.open(os.devnull, os.O_RDONLY)  # no input, as the request pipe is not theirs
    os.dup2(null, 0)
    os.close(null)
    sys.stdin = open(0, closefd=False)  # noqa: SIM115
    sys.argv = ["affect-edge", *request["argv"]]
    from edge.cli.main import main

    try:
        code = main()
    except SystemExit as exc:  # what sys.exit(main()) makes of it
        code = exc.code
    except BaseException:
        traceback.print_exc()
        code = 1
    if code is None:
        code = 0
    elif not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    return code


def serve() -> None:
    import edge.cli.main  # noqa: F401 - the imports every case shares, done once

    reply = os.fdopen(os.dup(1), "w")
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            os._exit(_child(request))
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        reply.write(json.dumps({"code": code}) + "\n")
        reply.flush()


class CliServer:
    """The fork server as a context manager: `run(argv, cwd, env, timeout)` gives a
    `subprocess.CompletedProcess` like `subprocess.run([affect-edge, *argv], ...)` does."""

    def __init__(self, env: dict[str, str], scratch: Path) -> None:
        self.env = dict(env)
        self.scratch = Path(scratch)
        self.count = 0
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.cli_server"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parents[1],
            env=self.env,
        )

    def run(
        self, argv: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 300
    ) -> subprocess.CompletedProcess:
        self.count += 1
        out = self.scratch / f"{self.count}.out"
        err = self.scratch / f"{self.count}.err"
        request = {
            "argv": [str(a) for a in argv],
            "cwd": str(cwd),
            "env": self.env if env is None else env,
            "out": str(out),
            "err": str(err),
        }
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            self.close()
            raise subprocess.TimeoutExpired(argv, timeout)
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the CLI fork server ended (exit {self.proc.wait()})")
        code = json.loads(line)["code"]
        return subprocess.CompletedProcess(
            ["affect-edge", *argv],
            code,
            out.read_text(errors="replace"),
            err.read_text(errors="replace"),
        )

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> CliServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


if __name__ == "__main__":
    serve()

"""Entry point of the `affect-edge` command.

The device commands live in `edge.cli`. Offline commands (`distill`, `export`) are contributed by
the offline packages through the `affect_edge.commands` entry-point group, so that the online
half never imports them: a command module there provides HELP, add_arguments(parser) and
run(args) -> exit status.

Exit status: 0 done; 2 an error (one line on stderr naming it); 3 a device budget broken
(`bench`); 130 interrupted. Output cut short by a closed pipe (`| head`) ends quietly with 0;
stdout that cannot be written (a full disk) is an error (2).
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import sys
import warnings
from importlib.metadata import entry_points
from types import ModuleType

from edge import __version__
from edge.cli import bench, daemon, demo, features, models, profiles, run, status
from edge.errors import AffectEdgeError, ConfigError

ENTRY_POINT_GROUP = "affect_edge.commands"
#: The extra that installs each optional module (its top-level import name).
EXTRAS = {
    "torch": "train",
    "transformers": "train",
    "librosa": "train",
    "sklearn": "train",
    "scipy": "train",
    "h5py": "train",
    "ctranslate2": "train",
    "onnx": "export",
    "onnxscript": "export",
    "litert_torch": "export",
    "ai_edge_litert": "litert",
    "tflite_runtime": "litert",
    "cv2": "camera",
    "skimage": "face-train",
    "brainflow": "eeg",
    "pyedflib": "eeg",
    "mne": "eeg",
    "paho": "mqtt",
    "tornado": "web",
    "serial": "bridge",
    "matplotlib": "plot",
    "sounddevice": "audio",
    "soundfile": "audio",
    "rich": "cli",
    "cysystemd": "systemd",
}
#: Our own packages: a missing module among them is a broken install, not a missing extra.
OWN = ("edge", "devices", "distill", "quant", "firmware_bridge")


def missing_extra(exc: ModuleNotFoundError, command: str) -> str | None:
    """The one-line message for a module an extra installs, or None when it is not one."""
    top = (exc.name or "").split(".")[0]
    if not top or top in OWN:
        return None
    extra = EXTRAS.get(top)
    fix = f"pip install 'affect-edge[{extra}]'" if extra else f"pip install {top}"
    return f"{command} needs {top}, which is not installed: {fix}"


BUILTIN: dict[str, ModuleType] = {
    "demo": demo,
    "run": run,
    "features": features,
    "models": models,
    "bench": bench,
    "profiles": profiles,
    "daemon": daemon,
    "status": status,
}


def plugin_entry_points() -> dict:
    """Entry points of the commands other installed packages contribute, by name."""
    found = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
    return {name: found[name] for name in sorted(found) if name not in BUILTIN}


def commands(
    load_plugins: bool = True, only: str | None = None
) -> dict[str, ModuleType | str | None]:
    """The device commands, then the contributed ones: loaded, None when not needed now, or the
    message saying what to install where the command's own dependencies are missing. With
    `only`, just that contributed command is loaded (the others may import torch)."""
    out: dict[str, ModuleType | str | None] = dict(BUILTIN)
    for name, ep in plugin_entry_points().items():
        if not load_plugins or (only is not None and name != only):
            out[name] = None
            continue
        try:
            out[name] = ep.load()
        except ModuleNotFoundError as exc:  # installed without the extra it needs
            out[name] = missing_extra(exc, name) or f"{name} is unavailable: {exc}"
        except ImportError as exc:
            out[name] = f"{name} is unavailable: {exc}"
    return out


def _unavailable(message: str):
    def handler(args: argparse.Namespace) -> int:
        raise ConfigError(message)

    return handler


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser; a device command line (`run speech ...`) loads no contributed command."""
    words = [a for a in (sys.argv[1:] if argv is None else argv) if not a.startswith("-")]
    device_command = bool(words) and words[0] in BUILTIN
    # A contributed command's line loads that command alone; no command (--help) loads all.
    only = words[0] if words and not device_command else None
    parser = argparse.ArgumentParser(
        prog="affect-edge",
        description="On-device affect sensing: compiled DSP front ends and tiny int8 models for "
        "speech, face and EEG. Raw audio, video and EEG never leave the device.",
        epilog="Exit status: 0 done, 2 error, 3 over a device budget (bench), 130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"affect-edge {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in commands(load_plugins=not device_command, only=only).items():
        if module is None:
            sub.add_parser(name, help="(contributed command)")
            continue
        if not isinstance(module, str) and name not in BUILTIN:
            # A contributed command may import its dependencies while adding its options.
            try:
                module.add_arguments(argparse.ArgumentParser(add_help=False))
            except ModuleNotFoundError as exc:
                module = missing_extra(exc, name) or f"{name} is unavailable: {exc}"
        if isinstance(module, str):  # its dependencies are missing: say what to install
            p = sub.add_parser(name, help=f"(unavailable: {module})", add_help=False)
            p.add_argument("rest", nargs=argparse.REMAINDER)
            p.set_defaults(handler=_unavailable(module))
            continue
        p = sub.add_parser(
            name,
            help=module.HELP,
            description=getattr(module, "DESCRIPTION", module.HELP),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(p)
        p.set_defaults(handler=module.run)
    return parser


def _quiet_stdout() -> None:
    # Point stdout at /dev/null, so that Python's own flush at exit has nowhere to fail (the way
    # Python's documentation of SIGPIPE recommends).
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _quiet_broken_pipe() -> int:
    # The reader went away (`| head`): it has what it wanted, so say nothing and exit 0.
    _quiet_stdout()
    return 0


def _command_words(args: argparse.Namespace) -> list[str]:
    """`distill face`, `run speech`, `models verify`: the command and its subcommand."""
    words = [args.command]
    for attr in ("modality", "models_command", "kind", "target_command", "what", "subcommand"):
        value = getattr(args, attr, None)
        if isinstance(value, str) and value.isidentifier():
            words.append(value)
            break
    return words


def _is_stdout_failure(exc: OSError) -> bool:
    """A write to stdout failed (a full disk, /dev/full, an I/O error), not a file of ours."""
    if exc.filename is not None:
        return False
    return exc.errno in (errno.ENOSPC, errno.EIO, errno.EDQUOT, errno.EFBIG, errno.EPIPE)


def quiet_libraries() -> None:
    """Silence what libraries print to stderr that the user can do nothing about: BrainFlow's
    pkg_resources deprecation warning (every board run) and OpenCV's WARN lines (a camera it
    cannot open, which our own one-line error then names)."""
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    os.environ.setdefault("OPENCV_VIDEOIO_DEBUG", "0")


def main(argv: list[str] | None = None) -> int:
    quiet_libraries()
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        code = args.handler(args)
        # Flush here, inside the handlers: output still buffered for a closed pipe or a full
        # disk would otherwise fail at interpreter exit, as a traceback and exit status 1.
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        return _quiet_broken_pipe()
    except AffectEdgeError as exc:
        print(f"affect-edge: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except ModuleNotFoundError as exc:
        message = missing_extra(exc, " ".join(_command_words(args)))
        if message is None:
            raise
        print(f"affect-edge: error: {message}", file=sys.stderr)
        return 2
    except OSError as exc:
        if not _is_stdout_failure(exc):
            raise
        _quiet_stdout()
        print(
            f"affect-edge: error: cannot write the output ({exc.strerror or exc}); "
            "write it to another place",
            file=sys.stderr,
        )
        return 2


if __name__ == "__main__":
    sys.exit(main())

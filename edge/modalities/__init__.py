"""The modality registry: how each kind of sensing is wired, written once per modality.

A modality is one module in this package (or a plug-in named in the `affect_edge.modalities`
entry-point group, or a `register()` call) that registers a `Modality`:

- `options`: its frozen, validated options class (`edge.modalities.options.StreamOptions`), which
  the CLI's flags, the daemon's TOML table and the demo all build;
- `schemes`: the source URIs it opens besides ``file:PATH`` (``mic``, ``camera:``, ``board:``...);
- `open_source(uri, options, bundles)`: the source a URI names;
- `build_pipeline(bundles, source, options, mode, on_event)`: its pipeline for an open source;
- `default_bundle` (and `load_bundles`, where it needs more than one bundle);
- `sample` (optional): the demo's input for it, so `affect-edge demo` runs every modality that
  has one.

The daemon and `affect-edge run` look modalities up here by name, so adding one is adding a
module; no other file names the modalities.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import pkgutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from edge.errors import ConfigError
from edge.modalities.options import StreamOptions

log = logging.getLogger(__name__)
ENTRY_POINT_GROUP = "affect_edge.modalities"


def _one_bundle(modality: Modality, options: StreamOptions) -> Any:
    from edge.runtime import load_bundle
    from edge.runtime.registry import find_bundle

    return load_bundle(find_bundle(options.bundle or modality.default_bundle))


@dataclass(frozen=True)
class Modality:
    """How one modality is wired: options, sources, pipeline, bundles."""

    name: str
    options: type[StreamOptions]
    schemes: tuple[str, ...]
    default_bundle: str
    open_source: Callable[[str, Any, Any], Any]
    build_pipeline: Callable[..., Any]
    load_bundles: Callable[[Modality, Any], Any] = _one_bundle
    #: Where it comes in listings (the daemon's workers, `--help`): lower first.
    rank: int = 100
    #: The demo's input: `sample(folder, speed)` -> (URI, options at `speed` times real time),
    #: anything it needs written under `folder`; None where it cannot run here.
    sample: Callable[[Path, float], tuple[str, StreamOptions] | None] | None = None

    def bundles(self, options: StreamOptions) -> Any:
        """The bundle(s) the pipeline needs, loaded and verified (a bad one raises here)."""
        return self.load_bundles(self, options)

    def fits(self, uri: str) -> bool:
        """Whether `uri` names a source of this modality."""
        return uri.startswith("file:") or uri.startswith(self.schemes)

    def open(self, uri: str, options: StreamOptions, bundles: Any) -> Any:
        if not self.fits(uri):
            raise ConfigError(f"{uri!r} is not a {self.name} source ({self.uri_help()})")
        return self.open_source(uri, options, bundles)

    def uri_help(self) -> str:
        return " or ".join(("file:PATH", *(f"{s}..." for s in self.schemes)))


_REGISTRY: dict[str, Modality] = {}
_loaded = False


def register(modality: Modality) -> Modality:
    """Add (or replace) a modality; returns it, so a module can keep it as a constant."""
    _REGISTRY[modality.name] = modality
    return modality


def unregister(name: str) -> None:
    _REGISTRY.pop(name, None)


def _load() -> None:
    """Import this package's modality modules and the entry-point plug-ins (once)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    here = str(Path(__file__).parent)
    for info in pkgutil.iter_modules([here]):
        if info.name != "options" and not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            ep.load()
        except Exception as exc:  # a broken plug-in must not take the built-in modalities down
            log.warning("modality plug-in %s did not load: %s", ep.name, exc)


def names() -> tuple[str, ...]:
    """Every registered modality, by rank."""
    _load()
    return tuple(sorted(_REGISTRY, key=lambda n: _REGISTRY[n].rank))


def get(name: str) -> Modality:
    _load()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(
            f"no modality named {name!r}; known: {', '.join(_REGISTRY) or 'none'}"
        ) from None


@contextlib.contextmanager
def opened(
    name: str,
    uri: str,
    options: StreamOptions | None = None,
    bundles: Any = None,
    mode: str = "sync",
    on_event: Callable | None = None,
) -> Iterator[tuple[Any, Any]]:
    """A modality's source for `uri` (opened and started) and its pipeline; both closed at exit.
    `bundles`: already loaded (default: the options' or the modality's default)."""
    modality = get(name)
    options = options if options is not None else modality.options()
    if bundles is None:
        bundles = modality.bundles(options)
    with (
        modality.open(uri, options, bundles) as source,
        modality.build_pipeline(bundles, source, options, mode, on_event) as pipeline,
    ):
        yield source, pipeline


def file_path(uri: str) -> Path | None:
    """The path of a ``file:PATH`` URI (None for any other)."""
    return Path(uri[5:]) if uri.startswith("file:") else None


def after_colon(uri: str) -> str | None:
    """What follows the scheme's colon (``mic:2`` -> ``2``; ``mic`` -> None)."""
    return uri.split(":", 1)[1] if ":" in uri else None

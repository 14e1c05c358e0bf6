"""Student architectures, created by name from a small registry (timm-style).

Each architecture lives in one self-contained file and registers a constructor with
`@register("name")`. A checkpoint records the name and the constructor's keyword arguments,
so `create(name, **config)` rebuilds exactly the network that was trained.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from edge.errors import ConfigError

_REGISTRY: dict[str, Callable[..., Any]] = {}


def register(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        if name in _REGISTRY:
            raise ConfigError(f"student architecture {name!r} is registered twice")
        _REGISTRY[name] = fn
        return fn

    return wrap


def architectures() -> list[str]:
    _load_builtin()
    return sorted(_REGISTRY)


def create(name: str, **config: Any) -> Any:
    """Build the torch module of a registered architecture."""
    _load_builtin()
    if name not in _REGISTRY:
        raise ConfigError(f"unknown student architecture {name!r}; known: {sorted(_REGISTRY)}")
    try:
        return _REGISTRY[name](**config)
    except TypeError as exc:
        raise ConfigError(f"architecture {name!r} does not accept config {config}: {exc}") from exc


def _load_builtin() -> None:
    from distill.students import face_expr, histn, speech_adv, tiny_conv  # noqa: F401  (they register themselves)

"""The `Sink` protocol: anything that takes `AffectEvent`s, in order, and can be flushed and closed.

A sink never raises into the pipeline that feeds it for a problem on its own side (a full disk,
a gone broker): it counts what it could not deliver in `dropped` and logs it. Used as a context
manager, it is always closed (and flushed) at the end.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from edge.events import AffectEvent


@runtime_checkable
class Sink(Protocol):
    #: Events accepted and delivered (or buffered for delivery).
    written: int
    #: Events that could not be delivered.
    dropped: int

    def write(self, event: AffectEvent) -> None: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...

    def __enter__(self) -> Sink: ...

    def __exit__(self, *exc: object) -> None: ...

"""systemd's notify protocol through cysystemd (the `systemd` extra): READY once the sources are
open, WATCHDOG pings while the daemon is healthy, RELOADING and STOPPING around SIGHUP and
SIGTERM, and a STATUS line. Where cysystemd is missing or the daemon was not started by systemd
(no $NOTIFY_SOCKET), every call does nothing."""

from __future__ import annotations

import os


def _notify(name: str, value: str | None = None) -> None:
    if not os.environ.get("NOTIFY_SOCKET"):
        return
    try:
        from cysystemd.daemon import Notification, notify
    except ImportError:
        return
    notify(Notification[name], value)


def ready() -> None:
    _notify("READY")


def reloading() -> None:
    _notify("RELOADING")


def stopping() -> None:
    _notify("STOPPING")


def watchdog() -> None:
    _notify("WATCHDOG")


def status(text: str) -> None:
    _notify("STATUS", text)


def watchdog_interval_s() -> float | None:
    """Half the watchdog timeout systemd asked for ($WATCHDOG_USEC), or None."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and int(pid) != os.getpid()):
        return None
    return int(usec) / 2e6

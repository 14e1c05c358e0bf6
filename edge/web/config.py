"""The daemon's optional `[web]` table: where the live page is served, and to whom.

```toml
[web]
address = "127.0.0.1"      # loopback by default; any other address needs a token
port = 8765                # 0: any free port (the log says which)
socket = "web.sock"        # also a Unix socket (mode 0660), relative to the config file
tcp = true                 # false: the Unix socket only (an SSH tunnel forwards it)
token = "..."              # required on a non-loopback address: /?token=... once, then a cookie
allowed_hosts = ["pi.local"]   # Host names accepted besides the loopback ones and `address`
name = "kitchen-pi"        # the device's name on the page (the host name by default)
max_clients = 8            # browsers at once; the next one gets 503
max_backlog = 262144       # bytes waiting for one browser; past it that browser is dropped
```
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from socket import gethostname
from typing import Any

from edge.errors import ConfigError

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")

_KEYS: dict[str, type | tuple[type, ...]] = {
    "address": str,
    "port": int,
    "socket": str,
    "tcp": bool,
    "token": str,
    "allowed_hosts": list,
    "name": str,
    "max_clients": int,
    "max_backlog": int,
}


@dataclass(frozen=True)
class WebConfig:
    address: str = "127.0.0.1"
    port: int = 8765
    socket: str | None = None
    tcp: bool = True
    token: str | None = None
    allowed_hosts: tuple[str, ...] = field(default_factory=tuple)
    name: str = field(default_factory=gethostname)
    max_clients: int = 8
    max_backlog: int = 256 * 1024

    def hosts(self) -> frozenset[str]:
        """Host names (without port) a request may carry: DNS rebinding is refused."""
        names = {*LOOPBACK_NAMES, *(h.lower() for h in self.allowed_hosts)}
        if self.address not in ("0.0.0.0", "::", ""):
            names.add(self.address.lower())
        return frozenset(names)


def is_loopback(address: str) -> bool:
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def parse_web(table: dict[str, Any], where: str, base: Path | None = None) -> WebConfig:
    """A validated `WebConfig` from the TOML `[web]` table (errors name the key)."""
    for key, value in table.items():
        if key not in _KEYS:
            raise ConfigError(f"{where}: unknown key '{key}'; known: {', '.join(sorted(_KEYS))}")
        kinds = _KEYS[key]
        kinds_t = kinds if isinstance(kinds, tuple) else (kinds,)
        if (isinstance(value, bool) and bool not in kinds_t) or not isinstance(value, kinds_t):
            names = " or ".join(k.__name__ for k in kinds_t)
            raise ConfigError(f"{where}.{key}: expected {names}, got {value!r}")
    options = dict(table)
    port = options.get("port", 8765)
    if not 0 <= port <= 65535:
        raise ConfigError(f"{where}.port: must be in [0, 65535] (0: any free port), got {port!r}")
    for key, lo, hi in (("max_clients", 1, 1000), ("max_backlog", 4096, 2**30)):
        if key in options and not lo <= options[key] <= hi:
            raise ConfigError(f"{where}.{key}: must be in [{lo}, {hi}], got {options[key]!r}")
    for key in ("address", "name", "socket", "token"):
        value = options.get(key)
        if value is not None and (not value.strip() or "\x00" in value):
            raise ConfigError(f"{where}.{key}: must be non-empty text")
    address = options.get("address", "127.0.0.1")
    if not is_loopback(address):
        try:
            ipaddress.ip_address(address)
        except ValueError:
            raise ConfigError(
                f"{where}.address: {address!r} is not an IP address (use 127.0.0.1, or the "
                "address of one interface)"
            ) from None
    tcp = options.get("tcp", True)
    token = options.get("token")
    if tcp and not is_loopback(address) and not token:
        raise ConfigError(
            f"{where}.address: {address} is reachable from other machines; set a token "
            "(web.token, 16 characters or more) or keep 127.0.0.1"
        )
    if token is not None and len(token) < 16:
        raise ConfigError(f"{where}.token: use 16 characters or more, got {len(token)}")
    if not tcp and "socket" not in options:
        raise ConfigError(f"{where}.tcp: false needs a socket path (web.socket)")
    hosts = options.get("allowed_hosts", [])
    for h in hosts:
        if not isinstance(h, str) or not h.strip() or any(c in h for c in "/ :\x00"):
            raise ConfigError(f"{where}.allowed_hosts: host names without port, got {h!r}")
    sock = options.get("socket")
    if sock is not None:
        path = Path(sock).expanduser()
        if not path.is_absolute():
            path = (base or Path.cwd()) / path
        if not path.parent.is_dir():
            raise ConfigError(
                f"{where}.socket: folder {path.parent} does not exist; create it or fix the path"
            )
        sock = str(path)
    kwargs: dict[str, Any] = {
        "address": address,
        "port": int(port),
        "socket": sock,
        "tcp": tcp,
        "token": token,
        "allowed_hosts": tuple(hosts),
    }
    for key in ("name", "max_clients", "max_backlog"):
        if key in options:
            kwargs[key] = options[key]
    return WebConfig(**kwargs)

"""EEG units: the one table from a unit's name to microvolts, the unit every EEG frame and front
end works in. Recordings, the CSV reader, the daemon's TOML, the CLI's --unit and the front end
all read it."""

from __future__ import annotations

from devices.errors import ConfigError

#: Factor from each unit to microvolts, under the names users write.
UNIT_NAMES = {"uV": 1.0, "mV": 1e3, "V": 1e6, "nV": 1e-3}
_BY_KEY = {name.lower(): scale for name, scale in UNIT_NAMES.items()} | {"µv": 1.0}


def unit_key(unit: str) -> str:
    """How unit names compare: without case, 'micro' as 'u', 'volt(s)' as 'v'."""
    return unit.strip().lower().replace("micro", "u").replace("volts", "v").replace("volt", "v")


def is_unit(unit: str) -> bool:
    return unit_key(unit) in _BY_KEY


def unit_scale(unit: str, where: str) -> float:
    """Factor from `unit` to microvolts; a one-line `ConfigError` naming `where` otherwise."""
    key = unit_key(unit) if isinstance(unit, str) else None
    if key not in _BY_KEY:
        raise ConfigError(f"{where}: unit {unit!r} is not one of {', '.join(UNIT_NAMES)}")
    return _BY_KEY[key]

"""The affect-edge exception family, re-exported for the online half (defined in `devices.errors`)."""

from devices.errors import (
    AffectEdgeError,
    BudgetError,
    BundleError,
    ConfigError,
    InputError,
    ProtocolError,
    SourceError,
)

__all__ = [
    "AffectEdgeError",
    "BudgetError",
    "BundleError",
    "ConfigError",
    "InputError",
    "ProtocolError",
    "SourceError",
]

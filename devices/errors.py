"""The one exception family of affect-edge, rooted here so that every layer can raise it.

`devices` is the lowest layer (it imports nothing from `edge`), so the family lives in it; `edge.errors`
re-exports the same classes. Every error the project raises on purpose derives from `AffectEdgeError`, so a daemon can catch
the family and keep running while a bug elsewhere still surfaces. Messages say what went wrong,
with which file or value, and what to do about it.
"""


class AffectEdgeError(Exception):
    """Base class of every error affect-edge raises deliberately."""


class ConfigError(AffectEdgeError, ValueError):
    """A configuration value (front-end parameter, profile field, CLI option) is invalid."""


class InputError(AffectEdgeError, ValueError):
    """Data handed to a front end or engine has the wrong dtype, shape, rate or values."""


class BundleError(AffectEdgeError):
    """A model bundle is missing, corrupt, inconsistent or of an unknown schema."""


class BudgetError(AffectEdgeError):
    """A model or a measured figure breaks a device profile's budget."""


class SourceError(AffectEdgeError):
    """A sensor source (file, sound card, camera, EEG board) failed or is unavailable."""


class ProtocolError(AffectEdgeError):
    """A frame on the wire to a wearable or firmware is malformed."""

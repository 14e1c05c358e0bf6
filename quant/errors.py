"""Errors of the offline export path (members of the one affect-edge family)."""

from edge.errors import AffectEdgeError, ConfigError


class ExportError(AffectEdgeError):
    """A model could not be exported or converted; the message names the op and layer where known."""


class CalibrationError(ConfigError):
    """Calibration data is missing, of the wrong shape, non-finite or too small."""

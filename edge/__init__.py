"""affect-edge: on-device affect sensing (speech, face, EEG) with tiny int8 students.

The online half lives here: the compiled DSP front end (`edge.dsp`), and later the runtime,
pipelines, daemon and CLI. Nothing under `edge` imports torch.
"""

from edge.errors import (
    AffectEdgeError,
    BudgetError,
    BundleError,
    ConfigError,
    InputError,
    ProtocolError,
    SourceError,
)

__version__ = "0.1.0"

__all__ = [
    "AffectEdgeError",
    "BudgetError",
    "BundleError",
    "ConfigError",
    "InputError",
    "ProtocolError",
    "SourceError",
    "__version__",
]

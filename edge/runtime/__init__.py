"""The device runtime: bundle loading and verification, inference engines, budgets."""

from edge.runtime.bundle import Bundle, load_bundle, write_bundle
from edge.runtime.manifest import Manifest

__all__ = ["Bundle", "Manifest", "load_bundle", "write_bundle"]

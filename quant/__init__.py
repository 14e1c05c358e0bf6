"""Offline half: ONNX/TFLite export, static int8 calibration, drift checks, bundle writing.

Empty until the quantisation issue.
"""

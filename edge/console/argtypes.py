"""Argument types shared by every command line: a value is checked when parsed, before any work
starts, so a bad one ends the command with argparse's usage line and one error line naming the
option (exit status 2), never with a traceback or after minutes of processing."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable


def positive_number(
    unit: str, minimum: float | None = None, maximum: float | None = None, why: str = ""
) -> Callable[[str], float]:
    """A finite number > 0 (nan, inf, 0 and negatives are refused), within [minimum, maximum]
    where given (`why` says what the bound protects, for the message)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number of {unit}, got {text!r}") from None
        if not math.isfinite(value) or value <= 0:
            raise argparse.ArgumentTypeError(
                f"must be a positive, finite number of {unit}, got {text!r}"
            )
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            span = (
                f"from {minimum:g} to {maximum:g}"
                if minimum is not None and maximum is not None
                else f"at least {minimum:g}"
                if minimum is not None
                else f"at most {maximum:g}"
            )
            raise argparse.ArgumentTypeError(
                f"must be {span} {unit}, got {text!r}" + (f" ({why})" if why else "")
            )
        return value

    return parse


def whole_number(minimum: int = 1, maximum: int | None = None, why: str = "") -> Callable:
    """A whole number within [minimum, maximum]."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(
                f"must be at most {maximum}, got {value}" + (f" ({why})" if why else "")
            )
        return value

    return parse


def positive_int(text: str) -> int:
    return whole_number(1)(text)


def fraction(text: str) -> float:
    """A finite number from 0 to 1 (a weight, a share)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 1, got {text!r}") from None
    if not (math.isfinite(value) and 0 <= value <= 1):
        raise argparse.ArgumentTypeError(f"must be from 0 to 1, got {text!r}")
    return value


def json_object(text: str) -> dict:
    """A JSON object ({"name": value, ...}), such as a constructor's keyword arguments."""
    import json

    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"is not JSON ({exc}): {text!r}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(
            f'must be a JSON object such as {{"widths": [16, 32]}}, got {text!r}'
        )
    return value

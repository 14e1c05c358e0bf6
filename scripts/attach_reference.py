"""Give a bundle built before reference examples existed its reference and derived tolerances.

Usage: python scripts/attach_reference.py BUNDLE CALIBRATION [-o OUT]
CALIBRATION is what `affect-edge export --calibration` takes (for the default speech bundle,
../shared/data/emodb-train/wav, its own calibration data). See quant/reference.py for the rule.
"""

from __future__ import annotations

import argparse
import json

from quant.reference import attach


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("bundle")
    parser.add_argument("calibration")
    parser.add_argument("-o", "--out")
    args = parser.parse_args()
    print(json.dumps(attach(args.bundle, args.calibration, args.out), indent=2))


if __name__ == "__main__":
    main()

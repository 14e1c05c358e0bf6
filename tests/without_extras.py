"""`affect-edge` as installed without some extras: `python -m tests.without_extras MODULES ARGS...`
runs the real entry point with the comma-separated MODULES made unimportable (as in a wheel
installed without the extra that brings them), then the command line ARGS."""

from __future__ import annotations

import sys

if __name__ == "__main__":
    for name in sys.argv[1].split(","):
        sys.modules[name] = None  # `import name` now raises ModuleNotFoundError
    sys.argv = ["affect-edge", *sys.argv[2:]]
    from edge.cli.main import main

    sys.exit(main())

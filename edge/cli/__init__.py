"""The `affect-edge` command line. Only this package prints; library code logs."""

"""The device daemon: modalities from a TOML config, each source and pipeline on its own thread,
one bounded event bus to the sinks, a status socket, clean stop and reload on signals."""

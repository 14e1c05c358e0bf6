"""What every command line of affect-edge shares: terminal output (`render`) and checked argument
types (`argtypes`). The device CLI (`edge.cli`) and the commands the offline halves contribute
(`distill`, `quant`, `firmware_bridge`) all import it here, so none of them imports `edge.cli`."""

"""The firmware bridge: the wire protocol to wearables and hearing aids (`protocol`, with its C99
twin in `c/`; see docs/protocol.md). Transports, the bridge command and the C export of bundles
are still to come."""

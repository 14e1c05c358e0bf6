"""The firmware bridge: the wire protocol to wearables and hearing aids (`protocol`, with its C99
twin in `c/`; see docs/protocol.md), the byte links (`transport`), the link as a source, pipeline
and sink of the one stream runner (`wire`), the `affect-edge bridge` command over them (`bridge`,
`cli`), the link as the registered modality ``wire`` (`modality`, `options`), and the C export
of bundles and front ends for MCU firmware (`export_c`)."""

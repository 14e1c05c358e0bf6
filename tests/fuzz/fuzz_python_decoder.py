"""atheris target: any bytes, in any chunking, into the Python decoder; good frames must
re-encode to themselves, and nothing may raise."""

import sys

import atheris

with atheris.instrument_imports():
    from firmware_bridge.protocol import Decoder, encode_frame


def one(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    cut = fdp.ConsumeIntInRange(1, 64)
    stream = fdp.ConsumeBytes(fdp.remaining_bytes())
    dec = Decoder()
    for i in range(0, len(stream), cut):
        for f in dec.feed(stream[i : i + cut]):
            again = Decoder().feed(encode_frame(f.type, f.seq, f.timestamp_us, f.payload, f.flags))
            assert len(again) == 1 and again[0].payload == f.payload


if __name__ == "__main__":
    atheris.Setup(sys.argv, one)
    atheris.Fuzz()

/* Checks the C codec against the shared vectors that the Python codec made: every frame is
 * encoded byte for byte and decoded back, through the streaming decoder, also with garbage,
 * corrupted and oversize blocks in between. Usage: test_proto VECTORS.txt; exit 0 when all hold. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "affect_proto.h"

#define LINE (2 * AE_MAX_FRAME * 2 + 256)

static char line[LINE];
static uint8_t payload[AE_MAX_PAYLOAD], frame[AE_MAX_FRAME], enc[AE_MAX_FRAME],
    got[AE_MAX_PAYLOAD];
static ae_decoder dec;

static size_t unhex(const char *s, uint8_t *out) {
    size_t n = 0;
    if (strcmp(s, "-") == 0) return 0;
    while (s[0] && s[1]) {
        unsigned v;
        sscanf(s, "%2x", &v);
        out[n++] = (uint8_t)v;
        s += 2;
    }
    return n;
}

static int fail(const char *what, int i) {
    fprintf(stderr, "vector %d: %s\n", i, what);
    return 1;
}

/* Feed bytes; return how many good frames came out (the last one's header/payload kept). */
static int feed(const uint8_t *b, size_t n, ae_header *h, size_t *len) {
    int frames = 0;
    size_t i;
    for (i = 0; i < n; i++) frames += ae_decoder_feed(&dec, b[i], h, got, sizeof(got), len);
    return frames;
}

int main(int argc, char **argv) {
    FILE *f;
    int i = 0, bad = 0;
    if (argc != 2 || !(f = fopen(argv[1], "r"))) {
        fprintf(stderr, "usage: test_proto VECTORS.txt\n");
        return 2;
    }
    if (ae_crc32c((const uint8_t *)"123456789", 9, 0) != 0xE3069283u) return fail("crc check", -1);
    ae_decoder_init(&dec);
    while (fgets(line, sizeof(line), f)) {
        unsigned type, seq, flags;
        unsigned long long ts;
        static char phex[2 * AE_MAX_PAYLOAD + 8], fhex[2 * AE_MAX_FRAME + 8];
        size_t pn, fn, en, len = 0;
        ae_header h, out;
        if (sscanf(line, "%u %u %llu %u %s %s", &type, &seq, &ts, &flags, phex, fhex) != 6)
            return fail("unreadable line", i);
        pn = unhex(phex, payload);
        fn = unhex(fhex, frame);
        h.version = AE_VERSION;
        h.type = (uint8_t)type;
        h.flags = (uint8_t)flags;
        h.seq = (uint16_t)seq;
        h.timestamp_us = ts;
        en = ae_frame_encode(&h, payload, pn, enc, sizeof(enc));
        if (en != fn || memcmp(enc, frame, fn) != 0) bad |= fail("encode differs", i);
        /* Garbage ended by a delimiter before each frame: counted, and the frame still decodes. */
        if (feed((const uint8_t *)"\x13\x37\x00", 3, &out, &len) != 0) bad |= fail("garbage", i);
        if (feed(frame, fn, &out, &len) != 1) bad |= fail("no frame decoded", i);
        if (out.type != type || out.seq != seq || out.timestamp_us != ts || out.flags != flags ||
            len != pn || (pn && memcmp(got, payload, pn) != 0))
            bad |= fail("decoded frame differs", i);
        i++;
    }
    fclose(f);
    if (dec.garbage == 0) bad |= fail("garbage not counted", i);
    /* The vectors run 65530 ... 65535, 0 ... 10: a wrap is no gap. */
    if (dec.gaps != 0) bad |= fail("gaps", (int)dec.gaps);
    /* A corrupted CRC, an oversize block, then a good frame: only the good one comes out. */
    {
        ae_header h = {AE_VERSION, AE_HEARTBEAT, 0, 100, 5}, out;
        size_t n = ae_frame_encode(&h, NULL, 0, enc, sizeof(enc)), len = 0, k;
        enc[1] ^= 0x40; /* the version byte, inside the first COBS block */
        if (feed(enc, n, &out, &len) != 0 || dec.bad_crc != 1) bad |= fail("bad crc", 0);
        for (k = 0; k < AE_MAX_ENCODED + 10; k++) ae_decoder_feed(&dec, 0x55, &out, got, sizeof(got), &len);
        if (dec.oversize != 1) bad |= fail("oversize", 0);
        h.seq = 101;
        n = ae_frame_encode(&h, NULL, 0, enc, sizeof(enc));
        /* The oversize block is still running: its end (a zero) comes with the next frame. */
        if (feed((const uint8_t *)"\x00", 1, &out, &len) != 0) bad |= fail("resync", 0);
        if (feed(enc, n, &out, &len) != 1 || out.seq != 101) bad |= fail("after oversize", 0);
        h.version = 2;
        n = ae_frame_encode(&h, NULL, 0, enc, sizeof(enc));
        if (feed(enc, n, &out, &len) != 0 || dec.bad_version != 1) bad |= fail("version", 0);
        /* Too small a buffer: nothing written. */
        if (ae_frame_encode(&h, payload, 10, enc, 12) != 0) bad |= fail("cap", 0);
    }
    if (bad) return 1;
    printf("ok %d vectors; frames %u garbage %u bad_crc %u oversize %u gaps %u lost %u\n", i,
           dec.frames, dec.garbage, dec.bad_crc, dec.oversize, dec.gaps, dec.lost);
    return 0;
}

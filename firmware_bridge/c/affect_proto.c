/* affect-edge wire protocol, version 1: see affect_proto.h and docs/protocol.md. */
#include "affect_proto.h"

#include <string.h>

static uint32_t crc_table[256];
static int crc_ready = 0;

static void crc_init(void) {
    uint32_t i, k, c;
    for (i = 0; i < 256u; i++) {
        c = i;
        for (k = 0; k < 8u; k++) {
            c = (c >> 1) ^ ((c & 1u) ? 0x82F63B78u : 0u);
        }
        crc_table[i] = c;
    }
    crc_ready = 1;
}

uint32_t ae_crc32c(const uint8_t *data, size_t n, uint32_t crc) {
    size_t i;
    uint32_t c = crc ^ 0xFFFFFFFFu;
    if (!crc_ready) {
        crc_init();
    }
    for (i = 0; i < n; i++) {
        c = crc_table[(c ^ data[i]) & 0xFFu] ^ (c >> 8);
    }
    return c ^ 0xFFFFFFFFu;
}

size_t ae_cobs_encode(const uint8_t *in, size_t n, uint8_t *out, size_t cap) {
    size_t code_at = 0, w = 1, i;
    uint8_t code = 1;
    if (cap < 1u) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        if (in[i] == 0u) {
            out[code_at] = code;
            code_at = w++;
            code = 1;
        } else {
            if (w >= cap) {
                return 0;
            }
            out[w++] = in[i];
            code++;
            if (code == 0xFFu) {
                out[code_at] = code;
                code_at = w++;
                code = 1;
            }
        }
        if (w > cap) {
            return 0;
        }
    }
    if (code_at >= cap) {
        return 0;
    }
    out[code_at] = code;
    return w;
}

size_t ae_cobs_decode(const uint8_t *in, size_t n, uint8_t *out, size_t cap) {
    size_t r = 0, w = 0, k;
    uint8_t code;
    while (r < n) {
        code = in[r];
        if (code == 0u || r + code > n) {
            return 0;
        }
        r++;
        for (k = 1; k < code; k++) {
            if (in[r] == 0u || w >= cap) {
                return 0;
            }
            out[w++] = in[r++];
        }
        if (code < 0xFFu && r < n) {
            if (w >= cap) {
                return 0;
            }
            out[w++] = 0;
        }
    }
    return w;
}

static void put_u16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)(v & 0xFFu);
    p[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t *p, uint32_t v) {
    int i;
    for (i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static uint32_t get_u32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* A COBS encoder fed one byte at a time, so a frame is encoded straight from the caller's payload
 * into the caller's buffer with no staging copy (a few words of stack). */
typedef struct {
    uint8_t *out;
    size_t cap, w, code_at;
    uint8_t code;
    int overflow;
} cobs_writer;

static void cw_put(cobs_writer *c, uint8_t byte) {
    if (byte == 0u) {
        c->out[c->code_at] = c->code;
        c->code_at = c->w++;
        c->code = 1;
    } else {
        if (c->w >= c->cap) {
            c->overflow = 1;
            return;
        }
        c->out[c->w++] = byte;
        if (++c->code == 0xFFu) {
            c->out[c->code_at] = c->code;
            c->code_at = c->w++;
            c->code = 1;
        }
    }
    if (c->w > c->cap) {
        c->overflow = 1;
    }
}

size_t ae_frame_encode(const ae_header *h, const uint8_t *payload, size_t n, uint8_t *out,
                       size_t cap) {
    uint8_t head[AE_HEADER_SIZE], tail[AE_CRC_SIZE];
    cobs_writer c;
    size_t i;
    uint32_t crc;
    if (n > AE_MAX_PAYLOAD || cap < 2u) {
        return 0;
    }
    head[0] = h->version;
    head[1] = h->type;
    head[2] = h->flags;
    head[3] = 0;
    put_u16(head + 4, h->seq);
    for (i = 0; i < 8u; i++) {
        head[6 + i] = (uint8_t)(h->timestamp_us >> (8 * i));
    }
    crc = ae_crc32c(head, AE_HEADER_SIZE, 0);
    crc = ae_crc32c(payload, n, crc);
    put_u32(tail, crc);
    c.out = out;
    c.cap = cap - 1u; /* room for the delimiter */
    c.w = 1;
    c.code_at = 0;
    c.code = 1;
    c.overflow = 0;
    for (i = 0; i < AE_HEADER_SIZE && !c.overflow; i++) {
        cw_put(&c, head[i]);
    }
    for (i = 0; i < n && !c.overflow; i++) {
        cw_put(&c, payload[i]);
    }
    for (i = 0; i < AE_CRC_SIZE && !c.overflow; i++) {
        cw_put(&c, tail[i]);
    }
    if (c.overflow || c.code_at >= c.cap) {
        return 0;
    }
    out[c.code_at] = c.code;
    out[c.w] = 0;
    return c.w + 1u;
}

void ae_decoder_init(ae_decoder *d) {
    memset(d, 0, sizeof(*d));
}

static int finish_block(ae_decoder *d, ae_header *h, uint8_t *payload, size_t cap, size_t *n) {
    size_t raw_len, body, i;
    uint16_t skipped;
    if (d->len == 0u) {
        return 0;
    }
    raw_len = ae_cobs_decode(d->block, d->len, d->raw, sizeof(d->raw));
    if (raw_len == 0u) {
        d->garbage += (uint32_t)d->len;
        return 0;
    }
    if (raw_len < AE_HEADER_SIZE + AE_CRC_SIZE) {
        d->short_frames++;
        return 0;
    }
    body = raw_len - AE_CRC_SIZE;
    if (ae_crc32c(d->raw, body, 0) != get_u32(d->raw + body)) {
        d->bad_crc++;
        return 0;
    }
    if (d->raw[0] != AE_VERSION) {
        d->bad_version++;
        return 0;
    }
    if (body - AE_HEADER_SIZE > cap || body - AE_HEADER_SIZE > AE_MAX_PAYLOAD) {
        d->oversize++;
        return 0;
    }
    h->version = d->raw[0];
    h->type = d->raw[1];
    h->flags = d->raw[2];
    h->seq = (uint16_t)(d->raw[4] | (d->raw[5] << 8));
    h->timestamp_us = 0;
    for (i = 0; i < 8u; i++) {
        h->timestamp_us |= (uint64_t)d->raw[6 + i] << (8 * i);
    }
    *n = body - AE_HEADER_SIZE;
    if (*n) {
        memcpy(payload, d->raw + AE_HEADER_SIZE, *n);
    }
    if (d->have_seq) {
        skipped = (uint16_t)(h->seq - d->last_seq - 1u);
        if (skipped) {
            d->gaps++;
            d->lost += skipped;
        }
    }
    d->have_seq = 1;
    d->last_seq = h->seq;
    d->frames++;
    return 1;
}

int ae_decoder_feed(ae_decoder *d, uint8_t byte, ae_header *h, uint8_t *payload, size_t cap,
                    size_t *n) {
    int done;
    if (byte != 0u) {
        if (d->skipping) {
            return 0;
        }
        if (d->len >= sizeof(d->block)) {
            d->oversize++;
            d->len = 0;
            d->skipping = 1;
            return 0;
        }
        d->block[d->len++] = byte;
        return 0;
    }
    if (d->skipping) {
        d->skipping = 0;
        return 0;
    }
    done = finish_block(d, h, payload, cap, n);
    d->len = 0;
    return done;
}

/* affect-edge wire protocol, version 1 (docs/protocol.md): framing for firmware.
 *
 * C99, no heap, nothing from the C library but <stdint.h>, <stddef.h> and <string.h>; every
 * buffer comes from the caller. A frame on the wire is COBS(header | payload | CRC-32C) | 0x00.
 */
#ifndef AFFECT_PROTO_H
#define AFFECT_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define AE_VERSION 1u
#define AE_HEADER_SIZE 14u
#define AE_CRC_SIZE 4u
#define AE_MAX_PAYLOAD 4096u
#define AE_MAX_RAW (AE_HEADER_SIZE + AE_MAX_PAYLOAD + AE_CRC_SIZE)
/* The longest COBS block a valid frame can be, and a whole frame with its delimiter. */
#define AE_MAX_ENCODED (AE_MAX_RAW * 255u / 254u + 2u)
#define AE_MAX_FRAME (AE_MAX_ENCODED + 1u)

enum ae_type {
    AE_HELLO = 1, AE_CAPS = 2, AE_AUDIO = 3, AE_EEG = 4, AE_AFFECT = 5,
    AE_CONFIG = 6, AE_HEARTBEAT = 7, AE_ERROR = 8, AE_ACK = 9
};

typedef struct {
    uint8_t version;
    uint8_t type;
    uint8_t flags;
    uint16_t seq;
    uint64_t timestamp_us;
} ae_header;

/* CRC-32C (Castagnoli, reflected 0x82F63B78); pass 0 to start, the last result to continue. */
uint32_t ae_crc32c(const uint8_t *data, size_t n, uint32_t crc);

/* COBS: return the bytes written, or 0 when `cap` is too small / the input is malformed. */
size_t ae_cobs_encode(const uint8_t *in, size_t n, uint8_t *out, size_t cap);
size_t ae_cobs_decode(const uint8_t *in, size_t n, uint8_t *out, size_t cap);

/* One whole frame (delimiter included) into out; 0 when the payload or `cap` is too large. */
size_t ae_frame_encode(const ae_header *h, const uint8_t *payload, size_t n, uint8_t *out,
                       size_t cap);

/* Streaming decoder: feed bytes one at a time; it resynchronises at the next zero byte after
 * anything bad and counts each kind of trouble. */
typedef struct {
    uint8_t block[AE_MAX_ENCODED];
    uint8_t raw[AE_MAX_RAW];
    size_t len;
    int skipping;
    int have_seq;
    uint16_t last_seq;
    uint32_t frames, garbage, bad_crc, oversize, bad_version, short_frames, gaps, lost;
} ae_decoder;

void ae_decoder_init(ae_decoder *d);

/* Returns 1 when `byte` completes a good frame: its header in *h, its payload in payload[0..*n)
 * (at most `cap` bytes: a longer payload counts as oversize). Otherwise 0. */
int ae_decoder_feed(ae_decoder *d, uint8_t byte, ae_header *h, uint8_t *payload, size_t cap,
                    size_t *n);

#endif

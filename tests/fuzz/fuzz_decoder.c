/* libFuzzer target: any bytes into the C streaming decoder, in chunks the fuzzer also chooses.
 * Whatever comes out must be a frame the encoder can make again, byte for byte. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "affect_proto.h"

static ae_decoder dec;
static uint8_t payload[AE_MAX_PAYLOAD], again[AE_MAX_FRAME], back[AE_MAX_PAYLOAD];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    size_t i, n, m, k;
    ae_header h, h2;
    ae_decoder check;
    ae_decoder_init(&dec);
    for (i = 0; i < size; i++) {
        if (ae_decoder_feed(&dec, data[i], &h, payload, sizeof(payload), &n)) {
            /* Re-encode what was decoded and decode it again: the same frame must come out. */
            m = ae_frame_encode(&h, payload, n, again, sizeof(again));
            if (m == 0) __builtin_trap();
            ae_decoder_init(&check);
            for (k = 0; k < m; k++) {
                if (ae_decoder_feed(&check, again[k], &h2, back, sizeof(back), &n) && k != m - 1)
                    __builtin_trap();
            }
            if (check.frames != 1 || h2.seq != h.seq || h2.type != h.type ||
                memcmp(back, payload, n) != 0)
                __builtin_trap();
        }
    }
    return 0;
}

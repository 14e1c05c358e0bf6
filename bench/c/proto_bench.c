/* Decoder throughput of the C codec: decode the frames in a file N times; prints MB/s. */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "affect_proto.h"

static uint8_t payload[AE_MAX_PAYLOAD];
static ae_decoder dec;

int main(int argc, char **argv) {
    FILE *f;
    long size;
    uint8_t *buf;
    int reps, r;
    long i;
    size_t n;
    unsigned frames = 0;
    ae_header h;
    struct timespec t0, t1;
    double s;
    if (argc != 3 || !(f = fopen(argv[1], "rb"))) return 2;
    reps = atoi(argv[2]);
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)size);
    if (!buf || fread(buf, 1, (size_t)size, f) != (size_t)size) return 2;
    fclose(f);
    ae_decoder_init(&dec);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (r = 0; r < reps; r++)
        for (i = 0; i < size; i++) frames += (unsigned)ae_decoder_feed(&dec, buf[i], &h, payload, sizeof(payload), &n);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    printf("%u %.6f %.2f\n", frames, s, (double)size * reps / s / 1e6);
    free(buf);
    return 0;
}

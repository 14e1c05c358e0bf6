/* Test harness for an exported EEG tree: the C front end (ae_eeg.c) and the HiSTN student
 * (ae_histn.c with the weights in ae_config.c) on a recording, as firmware would run them.
 *
 *   eeg_student_harness IN.f32 OUT [FLAGS]  -- IN: float32 µV at AE_EEG_RATE, interleaved in the
 *   model's electrode order; OUT gets, per window, the AE_MODEL_OUTPUTS scores (float32); FLAGS
 *   (optional) gets, per window, ae_eeg_quality's byte per electrode, then max_uv and mains_uv
 *   (float32). */
#include <stdio.h>
#include <stdlib.h>

#include "ae_config.h"
#include "ae_eeg.h"

static ae_eeg state;
static float window[AE_EEG_WINDOW * AE_EEG_CHANNELS];
static float scratch[AE_STUDENT_SCRATCH];
static float scores[AE_MODEL_OUTPUTS];
static uint8_t flags[AE_EEG_CHANNELS];

int main(int argc, char **argv) {
    FILE *in, *out, *quality = NULL;
    float sample[AE_EEG_CHANNELS], figures[2];
    if ((argc != 3 && argc != 4) || ae_histn_check(&ae_student) != 0) return 2;
    in = fopen(argv[1], "rb");
    out = fopen(argv[2], "wb");
    if (argc == 4) quality = fopen(argv[3], "wb");
    if (!in || !out || (argc == 4 && !quality)) return 3;
    ae_eeg_init(&state);
    ae_histn_prepare(&ae_student, scratch);
    while (fread(sample, sizeof sample, 1, in) == 1) {
        if (ae_eeg_push(&state, sample)) {
            ae_eeg_window(&state, window);
            ae_histn_run(&ae_student, window, scratch, scores);
            if (fwrite(scores, sizeof scores, 1, out) != 1) return 4;
            if (quality) {
                ae_eeg_quality(&state, flags, &figures[0], &figures[1]);
                if (fwrite(flags, sizeof flags, 1, quality) != 1 ||
                    fwrite(figures, sizeof figures, 1, quality) != 1)
                    return 4;
            }
        }
    }
    fclose(in);
    if (quality && fclose(quality)) return 5;
    return fclose(out) ? 5 : 0;
}

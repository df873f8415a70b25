/* fuzz_score.c: `score`'s tokenizers and metrics: BLEU with the 13a, intl and none tokenizers
 * (and lowercasing), chrF and chrF++. Input: hypothesis, a newline, reference. Text that is not
 * UTF-8 must be an error, anything else a score within 0..100. */
#include <string.h>

#include "tests/fuzz/fuzz.h"
#include "train/metrics/metrics.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *hyp = fuzz_cstr(data, size);
    char *nl = strchr(hyp, '\n');
    const char *ref = "";
    if (nl) {
        *nl = '\0';
        ref = nl + 1;
    }
    tg_err err;
    for (int tok = TG_BLEU_TOK_13A; tok <= TG_BLEU_TOK_NONE; tok++) {
        tg_bleu_opts o = tg_bleu_opts_default();
        o.tokenize = (tg_bleu_tokenize)tok;
        o.lowercase = size > 0 && (data[0] & 1);
        tg_bleu_result r;
        if (tg_bleu_sentence_score(hyp, ref, &o, &r, &err) == TG_OK) FUZZ_CHECK(r.score >= 0 && r.score <= 100.0000001);
        else FUZZ_CHECK(err.msg[0] != '\0');
    }
    for (int word_order = 0; word_order <= 2; word_order += 2) {
        tg_chrf_opts co = {.char_order = 6, .word_order = word_order, .beta = 2};
        tg_chrf_result cr;
        if (tg_chrf_sentence_score(hyp, ref, &co, &cr, &err) == TG_OK) FUZZ_CHECK(cr.score >= 0 && cr.score <= 100.0000001);
        else FUZZ_CHECK(err.msg[0] != '\0');
    }
    free(hyp);
    return 0;
}

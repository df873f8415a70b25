/* fuzz_corpus.c: the corpus readers (TSV, file pairs, gzip through tg_file_read).
 * Input: byte 0 picks the reader and policy (bit 0: skip bad lines, bit 1: file pair, bit 2: a
 * small line limit); for a pair, byte 1 says where the source file ends; the rest is the file(s),
 * plain or gzip (the seeds hold both). Properties: every pair kept is non-empty, valid UTF-8,
 * without a NUL or (in TSV) a tab, and the counts add up. */
#include <string.h>

#include "datasets/datasets.h"
#include "tests/fuzz/fuzz.h"

static void check_corpus(const tg_corpus *c, bool tsv) {
    FUZZ_CHECK(c->n == c->stats.kept && c->n > 0);
    size_t skipped = 0;
    for (int r = 0; r < TG_BAD_REASON_COUNT; r++) skipped += c->stats.skipped[r];
    FUZZ_CHECK(c->n + skipped == c->stats.lines);
    for (size_t i = 0; i < c->n; i++) {
        const char *side[2] = {c->src[i], c->tgt[i]};
        for (int k = 0; k < 2; k++) {
            size_t len = strlen(side[k]);
            FUZZ_CHECK(len > 0 && tg_utf8_valid(side[k], len, NULL));
            FUZZ_CHECK(!tsv || !strchr(side[k], '\t'));
        }
        FUZZ_CHECK(i == 0 || c->line[i] > c->line[i - 1]);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    uint8_t mode = data[0];
    tg_corpus_opts o = {.on_bad_line = (mode & 1) ? TG_BAD_LINE_SKIP : TG_BAD_LINE_ERROR,
                        .max_line_bytes = (mode & 4) ? 16 : 0, .max_file_bytes = 1 << 20};
    const uint8_t *body = data + 2;
    size_t n = size - 2;
    tg_corpus c;
    tg_err err;
    bool pair = mode & 2;
    tg_status st;
    if (pair) {
        size_t cut = (size_t)data[1] * n / 255;
        const char *a = fuzz_tmp_file(0, body, cut);
        const char *b = fuzz_tmp_file(1, body + cut, n - cut);
        st = tg_corpus_read_pair(&c, a, b, &o, &err);
    } else {
        st = tg_corpus_read_tsv(&c, fuzz_tmp_file(0, body, n), &o, &err);
    }
    if (st == TG_OK) {
        check_corpus(&c, !pair);
        tg_corpus_free(&c);
    } else {
        FUZZ_CHECK(err.msg[0] != '\0');
    }
    return 0;
}

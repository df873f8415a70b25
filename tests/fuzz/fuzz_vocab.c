/* fuzz_vocab.c: the vocabulary reader and the BPE encoder.
 * Input: byte 0 'E': the rest is text for a fixed vocabulary (learned once from a few lines):
 * decode(encode(text)) must give back normalise(text) byte for byte, as datasets.h promises.
 * Otherwise the input is a vocabulary file; one that loads is saved again (the same text must
 * load to the same vocabulary) and encodes a sample. */
#include <string.h>

#include "datasets/datasets.h"
#include "tests/fuzz/fuzz.h"

static tg_bpe *fixed_vocab(void) {
    static tg_bpe *b;
    if (!b) {
        static const char *const lines[] = {"the house is red", "la casa es roja", "über straße, déjà vu!",
                                            "日本語のテキスト", "a b c abc ab bc"};
        tg_err err;
        if (tg_bpe_learn_lines(&b, lines, 5, &(tg_bpe_learn_opts){.merges = 40}, &err) != TG_OK) abort();
    }
    return b;
}

static void encode_round_trip(tg_bpe *b, const uint8_t *text, size_t n) {
    tg_ids ids = {0};
    tg_str out = {0};
    tg_err err;
    FUZZ_CHECK(tg_bpe_encode(b, (const char *)text, n, &ids, &err) == TG_OK);
    FUZZ_CHECK(tg_bpe_decode(b, ids.v, ids.n, &out, &err) == TG_OK);
    char *norm = fuzz_cstr(text, n);
    size_t k = tg_corpus_normalize(norm, n);
    FUZZ_CHECK(out.n == k && memcmp(out.s ? out.s : "", norm, k) == 0);
    free(norm);
    tg_ids_free(&ids);
    tg_str_free(&out);
}

static void load_save_load(const uint8_t *data, size_t size) {
    tg_bpe *b;
    tg_err err;
    if (tg_bpe_load_text(&b, (const char *)data, size, "fuzz.vocab", &err) != TG_OK) {
        FUZZ_CHECK(err.msg[0] != '\0');
        return;
    }
    tg_str t = {0};
    FUZZ_CHECK(tg_bpe_save_text(b, &t, &err) == TG_OK);
    tg_bpe *again;
    FUZZ_CHECK(tg_bpe_load_text(&again, t.s, t.n, "saved", &err) == TG_OK);
    FUZZ_CHECK(tg_bpe_vocab_size(again) == tg_bpe_vocab_size(b));
    static const char sample[] = "the quick brown fox, über déjà \xff\xfe";
    encode_round_trip(again, (const uint8_t *)sample, sizeof sample - 1);
    tg_str_free(&t);
    tg_bpe_free(again);
    tg_bpe_free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size >= 1 && data[0] == 'E') encode_round_trip(fixed_vocab(), data + 1, size - 1);
    else load_save_load(data, size);
    return 0;
}

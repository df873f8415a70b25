/* fuzz_ckpt.c: the checkpoint reader and the sections a run's checkpoint holds.
 * Input: byte 0 'S': the rest is sections (a NUL-terminated name, a u32 little-endian length,
 * the bytes; repeated), written into a valid container so that the section parsers (config,
 * model, vocab, param_index, params, state) see the bytes past the CRCs. Otherwise the input is
 * the file itself, for the container's own checks. Either way the file is then loaded as
 * translate loads a model; a refusal must say why. */
#include <string.h>

#include "tests/fuzz/fuzz.h"
#include "train/ckpt/ckpt_file.h"
#include "train/run/run.h"

/* The sections of a structured input in a container file; NULL if the writer refuses them. */
static const char *structured_file(const uint8_t *p, size_t n) {
    tg_ckpt_writer *w = tg_ckpt_writer_new();
    if (!w) abort();
    tg_err err;
    tg_ckpt_writer_set_level(w, 1, &err);
    tg_status st = TG_OK;
    while (n > 0 && st == TG_OK) {
        const uint8_t *z = memchr(p, 0, n);
        if (!z || (size_t)(z - p) + 5 > n) break;
        const char *name = (const char *)p;
        size_t off = (size_t)(z - p) + 1;
        uint32_t len = (uint32_t)p[off] | (uint32_t)p[off + 1] << 8 | (uint32_t)p[off + 2] << 16 |
                       (uint32_t)p[off + 3] << 24;
        off += 4;
        if (len > n - off) len = (uint32_t)(n - off);
        st = tg_ckpt_writer_add(w, name, p + off, len, &err);
        p += off + len;
        n -= off + len;
    }
    const char *path = fuzz_tmp_file(0, "", 0);
    if (st == TG_OK) st = tg_ckpt_writer_save(w, path, &err);
    tg_ckpt_writer_free(w);
    return st == TG_OK ? path : NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = size > 0 && data[0] == 'S' ? structured_file(data + 1, size - 1)
                                                  : fuzz_tmp_file(0, data, size);
    if (!path) return 0;
    tg_err err;
    tg_ckpt_reader *r;
    if (tg_ckpt_reader_open(path, &r, &err) == TG_OK) tg_ckpt_reader_free(r);
    else FUZZ_CHECK(err.msg[0] != '\0');
    tg_loaded L;
    if (tg_run_load_model(path, &L, &err) == TG_OK) {
        FUZZ_CHECK(L.model != NULL);
        tg_loaded_free(&L);
    } else {
        FUZZ_CHECK(err.msg[0] != '\0');
    }
    return 0;
}

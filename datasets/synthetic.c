/* synthetic.c: copy, reverse and sort tasks as datasets, for tests and demos. */
#include <stdlib.h>
#include <string.h>

#include "datasets/internal.h"

static const char *const task_names[TG_SYNTH_TASK_COUNT] = {"copy", "reverse", "sort"};

const char *tg_synth_task_str(tg_synth_task t) {
    return (unsigned)t < TG_SYNTH_TASK_COUNT ? task_names[t] : "unknown";
}

tg_status tg_synth_task_parse(const char *name, tg_synth_task *out, tg_err *err) {
    for (int t = 0; t < TG_SYNTH_TASK_COUNT; t++)
        if (!strcmp(name, task_names[t])) {
            *out = (tg_synth_task)t;
            return TG_OK;
        }
    return tg_err_set(err, TG_ERR_ARG, "unknown synthetic task '%s' (expected copy, reverse or sort)", name);
}

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

tg_status tg_synth_dataset(tg_dataset *ds, const tg_synth_opts *o, size_t n, tg_err *err) {
    if ((unsigned)o->task >= TG_SYNTH_TASK_COUNT)
        return tg_err_set(err, TG_ERR_ARG, "unknown synthetic task %d", (int)o->task);
    if (o->vocab <= TG_N_SPECIAL)
        return tg_err_set(err, TG_ERR_ARG, "synthetic vocabulary %d leaves no token beside the %d specials",
                          (int)o->vocab, TG_N_SPECIAL);
    if (o->min_len < 1 || o->max_len < o->min_len || o->max_len > (1 << 20))
        return tg_err_set(err, TG_ERR_ARG, "synthetic lengths need 1 <= min (%d) <= max (%d) <= 2^20",
                          (int)o->min_len, (int)o->max_len);
    int32_t *src = malloc((size_t)o->max_len * sizeof *src), *tgt = malloc((size_t)o->max_len * sizeof *tgt);
    if (!src || !tgt) {
        free(src);
        free(tgt);
        return tg_err_set(err, TG_ERR_NOMEM, "out of memory");
    }
    tg_data_rng r;
    tg_data_rng_seed(&r, o->seed, 0);
    tg_status st = TG_OK;
    uint64_t symbols = (uint64_t)(o->vocab - TG_N_SPECIAL);
    for (size_t i = 0; i < n && st == TG_OK; i++) {
        int32_t len = o->min_len + (int32_t)tg_data_rng_below(&r, (uint64_t)(o->max_len - o->min_len) + 1);
        for (int32_t j = 0; j < len; j++) src[j] = TG_N_SPECIAL + (int32_t)tg_data_rng_below(&r, symbols);
        for (int32_t j = 0; j < len; j++) tgt[j] = o->task == TG_SYNTH_REVERSE ? src[len - 1 - j] : src[j];
        if (o->task == TG_SYNTH_SORT) qsort(tgt, (size_t)len, sizeof *tgt, cmp_i32);
        st = tg_dataset_add(ds, src, len, tgt, len, i, err);
    }
    free(src);
    free(tgt);
    return st;
}

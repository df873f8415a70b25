/* params_file.c: a parameter store's two checkpoint sections (see params_file.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/shown.h"
#include "train/ckpt/params_file.h"

/* The first parameter holding a NaN or an infinity, or NULL (*at: the element). A diverged
 * update (too large --lr, a zero --adam-eps) leaves such values; they are never saved and never
 * loaded, so no checkpoint on disk holds a model that translates to nothing. */
static const tg_tensor *first_non_finite(const tg_params *P, int64_t *at) {
    for (int i = 0; i < tg_params_len(P); i++) {
        const tg_tensor *t = tg_params_at(P, i);
        for (int64_t k = 0; k < t->n; k++)
            if (!isfinite(t->data[k])) {
                *at = k;
                return t;
            }
    }
    return NULL;
}

tg_status tg_params_write(const tg_params *P, tg_ckpt_writer *w, tg_err *err) {
    if (!tg_params_data(P))
        return tg_err_set(err, TG_ERR_STATE, "params: save before tg_params_alloc");
    int64_t at = 0;
    const tg_tensor *bad = first_non_finite(P, &at);
    if (bad)
        return tg_err_set(err, TG_ERR_NUMERIC, "parameter '%s' holds %g at element %lld: a model with NaN or "
                          "infinite parameters is not saved (the training diverged)", bad->name,
                          (double)bad->data[at], (long long)at);
    tg_ckpt_buf b;
    tg_ckpt_buf_init(&b);
    tg_ckpt_buf_u32(&b, (uint32_t)sizeof(tg_float));
    tg_ckpt_buf_u32(&b, (uint32_t)tg_params_len(P));
    for (int i = 0; i < tg_params_len(P); i++) {
        const tg_tensor *t = tg_params_at(P, i);
        tg_ckpt_buf_str(&b, t->name);
        tg_ckpt_buf_u32(&b, (uint32_t)t->ndim);
        for (int d = 0; d < t->ndim; d++) tg_ckpt_buf_u32(&b, (uint32_t)t->shape[d]);
    }
    tg_status s = tg_ckpt_writer_add_buf(w, "param_index", &b, err);
    tg_ckpt_buf_free(&b);
    if (s != TG_OK) return s;
    return tg_ckpt_writer_add_ref(w, "params", tg_params_data(P),
                                  (size_t)tg_params_numel(P) * sizeof(tg_float), err);
}

/* param_index against P: the element size of the file in *elem. */
static tg_status check_index(const tg_params *P, const tg_ckpt_reader *r, uint32_t *elem,
                             tg_err *err) {
    const char *path = tg_ckpt_reader_shown(r);
    const void *p;
    size_t n;
    tg_status s = tg_ckpt_reader_get(r, "param_index", &p, &n, err);
    if (s != TG_OK) return s;
    tg_ckpt_cur c;
    char what[4096 + 32];   /* the cursor's errors name the file */
    snprintf(what, sizeof what, "%s: section 'param_index'", path);
    tg_ckpt_cur_init(&c, p, n, what);
    uint32_t count = 0;
    tg_ckpt_cur_u32(&c, elem);
    tg_ckpt_cur_u32(&c, &count);
    if (c.st == TG_OK && *elem != 4 && *elem != 8)
        return tg_err_set(err, TG_ERR_CORRUPT, "%s: parameters of %u bytes each", path, *elem);
    if (c.st == TG_OK && count != (uint32_t)tg_params_len(P))
        return tg_err_set(err, TG_ERR_CORRUPT, "%s: %u parameters, the model has %d", path, count,
                          tg_params_len(P));
    for (int i = 0; c.st == TG_OK && i < tg_params_len(P); i++) {
        const tg_tensor *t = tg_params_at(P, i);
        char name[TG_NAME_MAX];
        uint32_t ndim = 0, dim = 0;
        tg_ckpt_cur_str(&c, name, sizeof name);
        tg_ckpt_cur_u32(&c, &ndim);
        if (c.st != TG_OK) break;
        bool same = !strcmp(name, t->name) && ndim == (uint32_t)t->ndim;
        char shape[128], want[64];   /* the file's shape, as tg_shape_str writes the model's */
        int k = snprintf(shape, sizeof shape, "(");
        for (uint32_t d = 0; d < ndim && d < TG_MAX_DIMS + 1; d++) {
            tg_ckpt_cur_u32(&c, &dim);
            same = same && d < (uint32_t)t->ndim && dim == (uint32_t)t->shape[d];
            k += snprintf(shape + k, sizeof shape - (size_t)k, d ? ", %u" : "%u", dim);
        }
        snprintf(shape + k, sizeof shape - (size_t)k, ")");
        if (c.st == TG_OK && !same)
            return tg_err_set(err, TG_ERR_CORRUPT, "%s: parameter %d is '%s' %s, the model expects '%s' %s", path, i,
                              TG_SHOWN_IN(TG_NAME_MAX, name), shape, t->name,
                              tg_shape_str(t, want, sizeof want));
    }
    return tg_ckpt_cur_finish(&c, err);
}

/* Element i of a 'params' section of elem-byte values, as a tg_float. */
static tg_float elem_at(const unsigned char *src, uint32_t elem, size_t i) {
    if (elem == 4) {
        float v;
        memcpy(&v, src + 4 * i, 4);
        return (tg_float)v;
    }
    double v;
    memcpy(&v, src + 8 * i, 8);
    return (tg_float)v;
}

tg_status tg_params_read(tg_params *P, const tg_ckpt_reader *r, tg_err *err) {
    if (!tg_params_data(P))
        return tg_err_set(err, TG_ERR_STATE, "params: load before tg_params_alloc");
    uint32_t elem = 0;
    tg_status s = check_index(P, r, &elem, err);
    const void *p;
    size_t n;
    if (s != TG_OK || (s = tg_ckpt_reader_get(r, "params", &p, &n, err)) != TG_OK) return s;
    size_t numel = (size_t)tg_params_numel(P);
    if (n != numel * elem)
        return tg_err_set(err, TG_ERR_CORRUPT, "%s: section 'params' has %zu bytes, %zu expected",
                          tg_ckpt_reader_shown(r), n, numel * elem);
    /* every value is checked as it would be stored before the store is touched */
    const unsigned char *src = p;
    for (int i = 0; i < tg_params_len(P); i++) {
        const tg_tensor *t = tg_params_at(P, i);
        size_t base = (size_t)(t->data - tg_params_data(P));   /* the file holds the buffer in order */
        for (int64_t k = 0; k < t->n; k++) {
            tg_float v = elem_at(src, elem, base + (size_t)k);
            if (!isfinite(v))
                return tg_err_set(err, TG_ERR_NUMERIC, "%s: parameter '%s' holds %g at element %lld (a "
                                  "diverged model, or values beyond the float range)",
                                  tg_ckpt_reader_shown(r), t->name, (double)v, (long long)k);
        }
    }
    tg_float *dst = tg_params_data(P);
    if (elem == sizeof(tg_float)) memcpy(dst, p, n);
    else
        for (size_t i = 0; i < numel; i++) dst[i] = elem_at(src, elem, i);
    return TG_OK;
}

tg_status tg_params_save(const tg_params *P, const char *path, tg_err *err) {
    tg_ckpt_writer *w = tg_ckpt_writer_new();
    if (!w) return tg_err_set(err, TG_ERR_NOMEM, "%s: out of memory", TG_SHOWN(path));
    tg_status s = tg_params_write(P, w, err);
    if (s == TG_OK) s = tg_ckpt_writer_save(w, path, err);
    tg_ckpt_writer_free(w);
    return s;
}

tg_status tg_params_load(tg_params *P, const char *path, tg_err *err) {
    tg_ckpt_reader *r;
    tg_status s = tg_ckpt_reader_open(path, &r, err);
    if (s != TG_OK) return s;
    s = tg_params_read(P, r, err);
    tg_ckpt_reader_free(r);
    return s;
}

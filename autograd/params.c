/* params.c: the parameter store. Parameters are declared, then allocated at once: values in one
 * contiguous buffer and gradients in another, in declaration order, so the optimiser is one flat
 * loop, a checkpoint writes each buffer in one go and one all-reduce sums every gradient. */
#include "autograd/internal.h"

#include <stdlib.h>
#include <string.h>

struct tg_params {
    tg_tensor **t;
    int len, cap;
    int64_t numel;
    tg_float *data, *grad;
    bool allocated;
    char errmsg[256];
};

tg_params *tg_params_new(void) { return calloc(1, sizeof(tg_params)); }

void tg_params_free(tg_params *P) {
    if (!P) return;
    for (int i = 0; i < P->len; i++) free(P->t[i]);
    free(P->t);
    free(P->data);
    free(P->grad);
    free(P);
}

static tg_tensor *params_fail(tg_params *P, const char *fmt, const char *name) {
    snprintf(P->errmsg, sizeof P->errmsg, fmt, name);
    return NULL;
}

tg_tensor *tg_params_add(tg_params *P, const char *name, int ndim, const int *shape) {
    if (P->allocated) return params_fail(P, "parameter '%s' declared after tg_params_alloc", name);
    if (!name || !*name || strlen(name) >= TG_NAME_MAX)
        return params_fail(P, "parameter name '%s' is empty or too long", name ? name : "");
    if (ndim < 0 || ndim > TG_MAX_DIMS) return params_fail(P, "parameter '%s': bad ndim", name);
    for (int d = 0; d < ndim; d++)
        if (shape[d] <= 0) return params_fail(P, "parameter '%s': a dim is not positive", name);
    if (tg_params_find(P, name)) return params_fail(P, "parameter '%s' declared twice", name);
    if (P->len == P->cap) {
        int cap = P->cap ? 2 * P->cap : 64;
        tg_tensor **t = realloc(P->t, (size_t)cap * sizeof *t);
        if (!t) return params_fail(P, "out of memory declaring '%s'", name);
        P->t = t;
        P->cap = cap;
    }
    int64_t n = tg_shape_numel(ndim, shape);
    if (n < 0 || P->numel > TG_NUMEL_MAX - n)
        return params_fail(P, "parameter '%s': the parameters would have more than 2^56 elements", name);
    tg_tensor *t = calloc(1, sizeof *t);
    if (!t) return params_fail(P, "out of memory declaring '%s'", name);
    t->ndim = ndim;
    for (int d = 0; d < ndim; d++) t->shape[d] = shape[d];
    t->n = n;
    t->flags = TG_TENSOR_PARAM | TG_TENSOR_REQUIRES_GRAD;
    snprintf(t->name, sizeof t->name, "%s", name);
    P->t[P->len++] = t;
    P->numel += t->n;
    return t;
}

tg_status tg_params_alloc(tg_params *P, tg_err *err) {
    if (P->allocated) return tg_err_set(err, TG_ERR_STATE, "parameters already allocated");
    size_t n = (size_t)(P->numel ? P->numel : 1);
    P->data = calloc(n, sizeof(tg_float));
    P->grad = calloc(n, sizeof(tg_float));
    if (!P->data || !P->grad)
        return tg_err_set(err, TG_ERR_NOMEM, "cannot allocate %lld parameters", (long long)P->numel);
    int64_t off = 0;
    for (int i = 0; i < P->len; i++) {
        P->t[i]->data = P->data + off;
        P->t[i]->grad = P->grad + off;
        off += P->t[i]->n;
    }
    P->allocated = true;
    return TG_OK;
}

int tg_params_len(const tg_params *P) { return P->len; }
tg_tensor *tg_params_at(const tg_params *P, int i) { return i >= 0 && i < P->len ? P->t[i] : NULL; }
int64_t tg_params_numel(const tg_params *P) { return P->numel; }
tg_float *tg_params_data(const tg_params *P) { return P->data; }
tg_float *tg_params_grad(const tg_params *P) { return P->grad; }
const char *tg_params_errmsg(const tg_params *P) { return P->errmsg; }

void tg_params_set_errmsg(tg_params *P, const char *msg) { snprintf(P->errmsg, sizeof P->errmsg, "%s", msg); }

tg_tensor *tg_params_find(const tg_params *P, const char *name) {
    for (int i = 0; i < P->len; i++)
        if (!strcmp(P->t[i]->name, name)) return P->t[i];
    return NULL;
}

void tg_params_zero_grad(tg_params *P) {
    if (P->grad) memset(P->grad, 0, (size_t)P->numel * sizeof(tg_float));
}

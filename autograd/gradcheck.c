/* gradcheck.c: analytic gradients against central finite differences (see gradcheck.h). */
#include "autograd/gradcheck.h"
#include "autograd/internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

tg_gradcheck_opts tg_gradcheck_defaults(void) {
#ifdef TG_DOUBLE
    /* torch.autograd.gradcheck's defaults */
    return (tg_gradcheck_opts){.eps = 1e-6, .atol = 1e-5, .rtol = 1e-3, .seed = 1};
#else
    /* float: a larger step (rounding error of L is ~1e-7 |L| / eps) and looser tolerances */
    return (tg_gradcheck_opts){.eps = 1e-2, .atol = 5e-3, .rtol = 5e-2, .seed = 1};
#endif
}

static uint64_t next_u64(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Evaluates the loss with recording off. */
static tg_status eval_loss(tg_ctx *ctx, tg_loss_fn fn, void *arg, double *out) {
    tg_ctx_reset(ctx);
    bool rec = tg_ctx_grad_enabled(ctx);
    tg_ctx_set_grad_enabled(ctx, false);
    tg_tensor *L = fn(ctx, arg);
    tg_ctx_set_grad_enabled(ctx, rec);
    if (!L || tg_ctx_status(ctx) != TG_OK) return tg_ctx_status(ctx) ? tg_ctx_status(ctx) : TG_ERR_ARG;
    *out = (double)L->data[0];
    return TG_OK;
}

tg_status tg_gradcheck(tg_ctx *ctx, tg_loss_fn fn, void *arg, tg_tensor *const *leaves, int n_leaves,
                       const tg_gradcheck_opts *opts, tg_gradcheck_result *res, tg_err *err) {
    tg_gradcheck_opts o = opts ? *opts : tg_gradcheck_defaults();
    if (!res) return tg_err_set(err, TG_ERR_ARG, "gradcheck: no result to fill");
    memset(res, 0, sizeof *res);   /* pass stays false unless every element was checked and passed */
    if (!ctx || !fn) return tg_err_set(err, TG_ERR_ARG, "gradcheck: no %s", ctx ? "loss function" : "context");
    if (n_leaves < 1 || !leaves) return tg_err_set(err, TG_ERR_ARG, "gradcheck: %d leaves (at least 1)", n_leaves);
    for (int l = 0; l < n_leaves; l++)
        if (!leaves[l]) return tg_err_set(err, TG_ERR_ARG, "gradcheck: leaf %d is NULL", l);
    if (!(isfinite(o.eps) && o.eps > 0) || !(isfinite(o.atol) && o.atol >= 0) || !(isfinite(o.rtol) && o.rtol >= 0))
        return tg_err_set(err, TG_ERR_ARG, "gradcheck: eps %g must be finite and > 0, atol %g and rtol %g finite "
                          "and >= 0", o.eps, o.atol, o.rtol);
    /* analytic */
    for (int l = 0; l < n_leaves; l++)
        if (leaves[l]->grad) memset(leaves[l]->grad, 0, (size_t)leaves[l]->n * sizeof(tg_float));
    tg_ctx_reset(ctx);
    tg_tensor *L = fn(ctx, arg);
    tg_status st = L ? tg_backward(ctx, L) : (tg_ctx_status(ctx) ? tg_ctx_status(ctx) : TG_ERR_ARG);
    if (st != TG_OK) return tg_err_set(err, st, "gradcheck: building the loss: %s", tg_ctx_errmsg(ctx));
    int64_t total = 0;
    for (int l = 0; l < n_leaves; l++) total += leaves[l]->n;
    double *analytic = malloc((size_t)(total ? total : 1) * sizeof *analytic);
    if (!analytic) return tg_err_set(err, TG_ERR_NOMEM, "gradcheck: out of memory");
    for (int l = 0, k = 0; l < n_leaves; l++)
        for (int64_t i = 0; i < leaves[l]->n; i++, k++)
            analytic[k] = leaves[l]->grad ? (double)leaves[l]->grad[i] : 0.0;
    /* numeric, element by element */
    uint64_t rng = o.seed;
    int64_t base = 0;
    for (int l = 0; l < n_leaves && st == TG_OK; base += leaves[l]->n, l++) {
        tg_tensor *t = leaves[l];
        int64_t n = t->n, m = (o.max_elems > 0 && o.max_elems < n) ? o.max_elems : n;
        int64_t *idx = malloc((size_t)n * sizeof *idx);
        if (!idx) { st = tg_err_set(err, TG_ERR_NOMEM, "gradcheck: out of memory"); break; }
        for (int64_t i = 0; i < n; i++) idx[i] = i;
        for (int64_t i = 0; i < m && m < n; i++) {   /* partial Fisher-Yates: a seeded sample */
            int64_t j = i + (int64_t)(next_u64(&rng) % (uint64_t)(n - i));
            int64_t tmp = idx[i]; idx[i] = idx[j]; idx[j] = tmp;
        }
        for (int64_t s = 0; s < m; s++) {
            int64_t i = idx[s];
            tg_float keep = t->data[i];
            double lp, lm;
            t->data[i] = (tg_float)(keep + o.eps);
            st = eval_loss(ctx, fn, arg, &lp);
            t->data[i] = (tg_float)(keep - o.eps);
            if (st == TG_OK) st = eval_loss(ctx, fn, arg, &lm);
            t->data[i] = keep;
            if (st != TG_OK) {
                tg_err_set(err, st, "gradcheck: evaluating the loss: %s", tg_ctx_errmsg(ctx));
                break;
            }
            /* the step actually taken, in tg_float, is what the difference divides by */
            double h = ((double)(tg_float)(keep + o.eps) - (double)(tg_float)(keep - o.eps));
            double num = (lp - lm) / h, ana = analytic[base + i];
            double abs_err = fabs(ana - num), rel = abs_err / fmax(fabs(num), 1e-12);
            bool ok = abs_err <= o.atol + o.rtol * fabs(num);
            res->checked++;
            if (!ok) res->failed++;
            if (abs_err > res->max_abs || (isnan(abs_err) && !isnan(res->max_abs))) {   /* a NaN is the worst */
                res->max_abs = abs_err;
                snprintf(res->worst, sizeof res->worst, "%s[%lld]: analytic %.9g numeric %.9g",
                         t->name[0] ? t->name : "input", (long long)i, ana, num);
            }
            if (fabs(num) > o.atol && rel > res->max_rel) res->max_rel = rel;  /* rel is noise near 0 */
        }
        free(idx);
    }
    free(analytic);
    tg_ctx_reset(ctx);
    res->pass = st == TG_OK && res->failed == 0 && res->checked > 0;
    return st;
}

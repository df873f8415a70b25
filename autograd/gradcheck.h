/* gradcheck.h: analytic gradients against central finite differences.
 *
 * The function under test builds a scalar loss from leaf tensors whose values persist across
 * tg_ctx_reset (parameters of a tg_params store). tg_gradcheck runs it once with backward for the
 * analytic gradient, then, for each checked element x_i of each leaf, twice more with x_i +- eps
 * (recording off) and compares (L(x+eps) - L(x-eps)) / 2eps with the analytic value:
 * |analytic - numeric| <= atol + rtol * |numeric|, torch.autograd.gradcheck's rule.
 * A vector-valued op is checked through loss = sum(out * R) for a fixed random R, i.e. the
 * Jacobian-vector product of torch's fast mode, with R drawn afresh for each projection.
 *
 *   tg_gradcheck_opts o = tg_gradcheck_defaults();    // eps 1e-6, atol 1e-5, rtol 1e-3 (double)
 *   tg_gradcheck_result r;
 *   tg_gradcheck(ctx, my_loss, &my_args, leaves, n_leaves, &o, &r, &err);
 *   printf("max abs %g max rel %g %s\n", r.max_abs, r.max_rel, r.pass ? "PASS" : "FAIL");
 */
#ifndef TG_GRADCHECK_H
#define TG_GRADCHECK_H

#include "autograd/autograd.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Builds the loss (one element) in ctx; returns NULL (with ctx's error) on failure. Must give the
 * same function every call: reset any randomness (tg_ctx_set_rng) inside. */
typedef tg_tensor *(*tg_loss_fn)(tg_ctx *ctx, void *arg);

typedef struct tg_gradcheck_opts {
    double eps, atol, rtol;
    int64_t max_elems;   /* per leaf: check at most this many elements (a seeded random sample);
                            <= 0: every element */
    uint64_t seed;       /* for the sample */
} tg_gradcheck_opts;

typedef struct tg_gradcheck_result {
    double max_abs;      /* largest |analytic - numeric| */
    double max_rel;      /* largest |analytic - numeric| / |numeric| where |numeric| > atol */
    int64_t checked;     /* elements checked */
    int64_t failed;      /* elements outside the tolerance */
    bool pass;
    char worst[128];     /* where the worst element is: "leaf[i]: analytic a numeric n" */
} tg_gradcheck_result;

/* torch.autograd.gradcheck's defaults in the double build; looser, stated ones in float. */
tg_gradcheck_opts tg_gradcheck_defaults(void);

tg_status tg_gradcheck(tg_ctx *ctx, tg_loss_fn fn, void *arg, tg_tensor *const *leaves, int n_leaves,
                       const tg_gradcheck_opts *opts, tg_gradcheck_result *res, tg_err *err);

/* ---- the per-op checks, over the op table ------------------------------------------------ */

typedef struct tg_opcheck_line {
    tg_op op;
    char name[32];       /* op name, with the variant ("softmax+causal") */
    char shapes[96];     /* input shapes, "(7, 33) x (33, 1)" */
    tg_gradcheck_result r;
} tg_opcheck_line;

/* Runs every case of every op in the table. An op of the table without a case gives a failing
 * line, so a new op cannot go unchecked. Lines go to `out` (up to cap); returns how many were
 * written, and sets *n_failed. */
int tg_opcheck_all(int threads, tg_opcheck_line *out, int cap, int *n_failed);

#ifdef __cplusplus
}
#endif

#endif /* TG_GRADCHECK_H */

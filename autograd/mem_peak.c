/* mem_peak.c: what holds a step's arena at its peak, for `tapegrad bench step --memory`.
 * When tracking is on, each new high of the step's arena use marks a note as due; the note is
 * taken at the next point where the tape is consistent (a node recorded, a node's backward done)
 * and copies one record per node: its output's values, its output gradient if alive, and what it
 * saved for backward. A later, higher peak of the same step replaces it. Costs a tape walk per
 * new high: for reports, not for training. */
#include "autograd/internal.h"

#include <stdlib.h>
#include <string.h>

typedef struct peak_rec {
    tg_op op;
    int ndim, shape[TG_MAX_DIMS];
    size_t data, grad, saved;
} peak_rec;

struct tg_peak_track {
    size_t step_max;     /* most bytes handed out in this step so far */
    bool due;            /* a new step high since the last note */
    peak_rec *recs;
    int n_recs, cap;
    tg_mem_peak at;
};

bool tg_ctx_track_peak(tg_ctx *ctx, bool on) {
    if (!on) {
        tg__peak_free(ctx);
        return true;
    }
    if (!ctx->peak) ctx->peak = calloc(1, sizeof *ctx->peak);
    return ctx->peak != NULL;
}

void tg__peak_free(tg_ctx *ctx) {
    if (!ctx->peak) return;
    free(ctx->peak->recs);
    free(ctx->peak);
    ctx->peak = NULL;
}

void tg__peak_alloc(tg_ctx *ctx) {
    if (ctx->step_used > ctx->peak->step_max) {
        ctx->peak->step_max = ctx->step_used;
        ctx->peak->due = true;
    }
}

void tg__peak_reset(tg_ctx *ctx) { ctx->peak->step_max = 0; }

void tg__peak_note(tg_ctx *ctx) {
    struct tg_peak_track *pk = ctx->peak;
    if (!pk->due) return;
    if (pk->cap < ctx->tape_len) {
        int cap = ctx->tape_len * 2;
        peak_rec *r = realloc(pk->recs, (size_t)cap * sizeof *r);
        if (!r) return;   /* keep the last note; the report is then from an earlier moment */
        pk->recs = r;
        pk->cap = cap;
    }
    pk->due = false;
    pk->n_recs = 0;
    for (tg_node *n = ctx->tape; n; n = n->prev) {
        peak_rec *r = &pk->recs[pk->n_recs++];
        const tg_tensor *t = n->out;
        size_t bytes = tg__arena_size((size_t)t->n * sizeof(tg_float));
        /* a reshape's values are its input's (shape.c): counted there; released ones are gone */
        *r = (peak_rec){.op = n->op, .ndim = t->ndim,
                        .data = n->op == TG_OP_RESHAPE || !t->data ? 0 : bytes,
                        .grad = t->grad && !tg__grad_shared(t) ? bytes : 0,
                        .saved = n->saved_bytes};
        memcpy(r->shape, t->shape, sizeof r->shape);
    }
    pk->at = (tg_mem_peak){.bytes = ctx->step_used, .holes = ctx->hole_bytes};
}

static int cmp_kind(const void *pa, const void *pb) {
    const peak_rec *a = pa, *b = pb;
    if (a->op != b->op) return a->op < b->op ? -1 : 1;
    if (a->ndim != b->ndim) return a->ndim < b->ndim ? -1 : 1;
    return memcmp(a->shape, b->shape, sizeof a->shape);
}

static size_t holder_total(const tg_mem_holder *h) { return h->data_bytes + h->grad_bytes + h->saved_bytes; }

static int cmp_total(const void *pa, const void *pb) {
    size_t a = holder_total(pa), b = holder_total(pb);
    return (a < b) - (a > b);   /* largest first */
}

int tg_ctx_peak_holders(const tg_ctx *ctx, tg_mem_holder *out, int max, tg_mem_peak *peak) {
    *peak = (tg_mem_peak){0};
    const struct tg_peak_track *pk = ctx->peak;
    if (!pk || pk->n_recs == 0) return 0;
    peak_rec *r = malloc((size_t)pk->n_recs * sizeof *r);
    tg_mem_holder *h = malloc((size_t)pk->n_recs * sizeof *h);
    int n_h = 0;
    if (r && h) {
        memcpy(r, pk->recs, (size_t)pk->n_recs * sizeof *r);
        memset(h, 0, (size_t)pk->n_recs * sizeof *h);
        /* zeroed shapes past ndim make equal kinds compare equal */
        for (int i = 0; i < pk->n_recs; i++)
            for (int d = r[i].ndim; d < TG_MAX_DIMS; d++) r[i].shape[d] = 0;
        qsort(r, (size_t)pk->n_recs, sizeof *r, cmp_kind);
        for (int i = 0; i < pk->n_recs; i++) {
            if (i == 0 || cmp_kind(&r[i], &r[i - 1])) {
                h[n_h] = (tg_mem_holder){.op = r[i].op, .ndim = r[i].ndim};
                memcpy(h[n_h].shape, r[i].shape, sizeof h[n_h].shape);
                n_h++;
            }
            tg_mem_holder *g = &h[n_h - 1];
            g->count++;
            g->data_bytes += r[i].data;
            g->grad_bytes += r[i].grad;
            g->saved_bytes += r[i].saved;
            peak->tape_bytes += r[i].data + r[i].grad + r[i].saved;
        }
        qsort(h, (size_t)n_h, sizeof *h, cmp_total);
        if (n_h > max) n_h = max;
        memcpy(out, h, (size_t)n_h * sizeof *h);
    }
    peak->bytes = pk->at.bytes;
    peak->holes = pk->at.holes;
    free(r);
    free(h);
    return n_h;
}

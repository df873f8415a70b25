/* profile.c: where a step's time goes, per op, for `tapegrad bench step --profile`. Forward:
 * ops run as they are called, so each node is stamped when recorded and the time since the
 * previous stamp is its op's (the layer code between two ops included; the first node's interval
 * starts at the reset). Backward: each node's backward is timed. With each op's floating-point
 * work (GEMMs) or the bytes it moves (everything else, an estimate: each value read or written
 * once), the report gives GFLOP/s or GB/s. Off unless asked for: two clock reads per node. */
#include "autograd/internal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

struct tg_prof {
    double step_start;             /* the reset, or the context's creation */
    tg_op_profile op[TG_OP_COUNT];
    int steps;                     /* backward calls profiled */
};

double tg__now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

bool tg_ctx_profile(tg_ctx *ctx, bool on) {
    if (!on) {
        tg__prof_free(ctx);
        return true;
    }
    if (!ctx->prof) ctx->prof = calloc(1, sizeof *ctx->prof);
    if (ctx->prof) ctx->prof->step_start = tg__now();
    return ctx->prof != NULL;
}

void tg__prof_free(tg_ctx *ctx) {
    free(ctx->prof);
    ctx->prof = NULL;
}

void tg__prof_reset(tg_ctx *ctx) { ctx->prof->step_start = tg__now(); }

/* GEMM work of a node, forward and backward (each input that takes a gradient costs one more
 * product of the same size). */
static void gemm_flop(const tg_node *n, double *fwd, double *bwd) {
    *fwd = *bwd = 0;
    int grads = tg_requires_grad(n->in[0]) + tg_requires_grad(n->in[1]);
    if (n->op == TG_OP_MATMUL || n->op == TG_OP_MATMUL_BIAS || n->op == TG_OP_MATMUL_BIAS_RELU) {
        int64_t batch = n->i[5] < 0 ? -n->i[5] : n->i[5];
        double one = 2.0 * (double)n->i[2] * (double)n->i[3] * (double)n->i[4] * (double)batch;
        *fwd = one;
        *bwd = one * grads;
    } else if (n->op == TG_OP_LINEAR_CROSS_ENTROPY) {   /* its gradients are made in the forward */
        const tg_tensor *w = n->in[1];
        *fwd = 2.0 * (double)n->in[0]->n * (double)w->shape[0] * (1 + grads);
    }
}

/* Bytes an op moves, an estimate: forward reads its inputs and writes its output; backward reads
 * the output's gradient and reads and writes each input's gradient. A reshape moves nothing. */
static void op_bytes(const tg_node *n, double *fwd, double *bwd) {
    if (n->op == TG_OP_RESHAPE) {
        *fwd = *bwd = 0;
        return;
    }
    double in = 0;
    for (int k = 0; k < TG_NODE_MAX_IN; k++) if (n->in[k]) in += (double)n->in[k]->n;
    double out = (double)n->out->n, s = sizeof(tg_float);
    *fwd = (in + out) * s;
    *bwd = (out + 2 * in) * s;
}

/* The forward intervals of the nodes of this step, up to the loss's node (the tape runs back). */
void tg__prof_forward(tg_ctx *ctx, tg_node *last) {
    tg_prof *p = ctx->prof;
    for (tg_node *n = last; n; n = n->prev) {
        double begin = n->prev ? n->prev->t_rec : p->step_start;
        tg_op_profile *o = &p->op[n->op];
        double ff, fb, bf, bb;
        gemm_flop(n, &ff, &fb);
        op_bytes(n, &bf, &bb);
        o->nodes++;
        o->fwd_s += n->t_rec - begin;
        o->fwd_flop += ff;
        o->bwd_flop += fb;
        o->fwd_bytes += bf;
        o->bwd_bytes += bb;
    }
    p->steps++;
}

void tg__prof_backward(tg_ctx *ctx, const tg_node *n, double seconds) {
    ctx->prof->op[n->op].bwd_s += seconds;
}

int tg_ctx_profile_read(const tg_ctx *ctx, tg_op_profile *out, int *steps) {
    *steps = 0;
    if (!ctx->prof) return 0;
    int k = 0;
    for (int op = 0; op < TG_OP_COUNT; op++)
        if (ctx->prof->op[op].nodes) {
            out[k] = ctx->prof->op[op];
            out[k++].op = (tg_op)op;
        }
    *steps = ctx->prof->steps;
    return k;
}

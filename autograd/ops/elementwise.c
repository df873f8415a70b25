/* elementwise.c: add and mul (with trailing-dims broadcast), sub, scale, pow, relu, gelu,
 * sigmoid. */
#include "autograd/ops/ops.h"

#include <math.h>
#include <string.h>

/* b broadcasts over a when b's dims are a's trailing dims. */
static bool trailing_dims(const tg_tensor *a, const tg_tensor *b) {
    if (b->ndim > a->ndim) return false;
    for (int d = 0; d < b->ndim; d++)
        if (b->shape[d] != a->shape[a->ndim - b->ndim + d]) return false;
    return true;
}

static tg_tensor *add_sub(tg_ctx *ctx, tg_tensor *a, tg_tensor *b, double s, tg_op op) {
    TG_NEED(ctx, a);
    TG_NEED(ctx, b);
    bool same = tg_tensor_same_shape(a, b);
    if (!same && (op == TG_OP_SUB || !trailing_dims(a, b)))
        return tg__fail_shapes(ctx, tg_op_name(op), a, b,
                           op == TG_OP_SUB ? "shapes differ" : "the second must have the first's shape or its trailing dims");
    tg_tensor *y = tg__new_uninit(ctx, a->ndim, a->shape); // (like a)
    if (!y) return NULL;
    tg_k_axpby(ctx->pool, a->n, a->data, s, b->data, b->n, y->data);
    tg__record(ctx, op, y, a, b, NULL);
    return y;
}

tg_tensor *tg_add(tg_ctx *ctx, tg_tensor *a, tg_tensor *b) { return add_sub(ctx, a, b, 1, TG_OP_ADD); }
tg_tensor *tg_sub(tg_ctx *ctx, tg_tensor *a, tg_tensor *b) { return add_sub(ctx, a, b, -1, TG_OP_SUB); }

static void add_sub_backward(tg_ctx *ctx, tg_node *n, double s) {
    tg_tensor *a = n->in[0], *b = n->in[1], *y = n->out;
    if (tg_requires_grad(a)) tg_k_acc(ctx->pool, a->n, 1, y->grad, tg__grad(ctx, a));
    if (tg_requires_grad(b)) {
        tg_float *gb = tg__grad(ctx, b);
        if (b->n == y->n) tg_k_acc(ctx->pool, b->n, s, y->grad, gb);
        else tg_k_colsum(ctx->pool, y->n / b->n, b->n, y->grad, gb);   /* (rows, n) -> (n) */
    }
}
void tg_add_backward(tg_ctx *ctx, tg_node *n) { add_sub_backward(ctx, n, 1); }
void tg_sub_backward(tg_ctx *ctx, tg_node *n) { add_sub_backward(ctx, n, -1); }

tg_tensor *tg_mul(tg_ctx *ctx, tg_tensor *a, tg_tensor *b) {
    TG_NEED(ctx, a);
    TG_NEED(ctx, b);
    if (!tg_tensor_same_shape(a, b) && !trailing_dims(a, b))
        return tg__fail_shapes(ctx, "mul", a, b, "the second must have the first's shape or its trailing dims");
    tg_tensor *y = tg__new_uninit(ctx, a->ndim, a->shape);   // like a
    if (!y) return NULL;
    int64_t nb = b->n;
    tg_k_mul(ctx->pool, a->n, a->data, b->data, nb, y->data);   // y = a * b (b broadcast)
    tg__record(ctx, TG_OP_MUL, y, a, b, NULL);
    return y;
}

void tg_mul_backward(tg_ctx *ctx, tg_node *n) {
    tg_tensor *a = n->in[0], *b = n->in[1], *y = n->out;
    int64_t nb = b->n;
    if (tg_requires_grad(a)) {
        tg_float *g = tg__grad(ctx, a);
        tg_k_mul_acc(ctx->pool, a->n, y->grad, b->data, nb, g);      // da += dy * b
    }
    if (tg_requires_grad(b)) {
        tg_float *g = tg__grad(ctx, b);
        if (nb == a->n) {
            tg_k_mul_acc(ctx->pool, nb, y->grad, a->data, nb, g);    // db += dy * a
        } else {   /* broadcast: products per element, then summed over rows in order */
            tg_float *prod = tg_ctx_alloc(ctx, (size_t)a->n * sizeof *prod);   // like a
            if (!prod) return;
            tg_k_mul(ctx->pool, a->n, y->grad, a->data, a->n, prod);    // dy * a, like a
            tg_k_colsum(ctx->pool, a->n / nb, nb, prod, g);
        }
    }
}

tg_tensor *tg_scale(tg_ctx *ctx, tg_tensor *a, double s) {
    TG_NEED(ctx, a);
    tg_tensor *y = tg__new_uninit(ctx, a->ndim, a->shape);
    if (!y) return NULL;
    tg_float sf = (tg_float)s;
    for (int64_t i = 0; i < a->n; i++) y->data[i] = sf * a->data[i];
    tg_node *node = tg__record(ctx, TG_OP_SCALE, y, a, NULL, NULL);
    if (node) node->f[0] = s;
    return y;
}

void tg_scale_backward(tg_ctx *ctx, tg_node *n) {
    tg_tensor *a = n->in[0];
    if (tg_requires_grad(a)) tg_k_acc(ctx->pool, a->n, (tg_float)n->f[0], n->out->grad, tg__grad(ctx, a));
}

static tg_tensor *unary(tg_ctx *ctx, tg_tensor *a, tg_unary f, tg_op op) {
    TG_NEED(ctx, a);
    tg_tensor *y = tg__new_uninit(ctx, a->ndim, a->shape);
    if (!y) return NULL;
    tg_k_unary(ctx->pool, f, a->n, a->data, y->data);
    tg_node *node = tg__record(ctx, op, y, a, NULL, NULL);
    if (node) node->i[0] = f;
    return y;
}

tg_tensor *tg_relu(tg_ctx *ctx, tg_tensor *a) { return unary(ctx, a, TG_UNARY_RELU, TG_OP_RELU); }
tg_tensor *tg_gelu(tg_ctx *ctx, tg_tensor *a, bool tanh_approx) {
    return unary(ctx, a, tanh_approx ? TG_UNARY_GELU_TANH : TG_UNARY_GELU_ERF, TG_OP_GELU);
}
tg_tensor *tg_sigmoid(tg_ctx *ctx, tg_tensor *a) {
    return unary(ctx, a, TG_UNARY_SIGMOID, TG_OP_SIGMOID);
}

static void unary_backward(tg_ctx *ctx, tg_node *n) {
    tg_tensor *a = n->in[0];
    if (tg_requires_grad(a))
        tg_k_unary_backward(ctx->pool, (tg_unary)n->i[0], a->n, a->data, n->out->grad, tg__grad(ctx, a));
}
void tg_relu_backward(tg_ctx *ctx, tg_node *n) { unary_backward(ctx, n); }
void tg_gelu_backward(tg_ctx *ctx, tg_node *n) { unary_backward(ctx, n); }
void tg_sigmoid_backward(tg_ctx *ctx, tg_node *n) { unary_backward(ctx, n); }

tg_tensor *tg_pow(tg_ctx *ctx, tg_tensor *a, double p) {
    TG_NEED(ctx, a);
    tg_tensor *y = tg__new_uninit(ctx, a->ndim, a->shape);
    if (!y) return NULL;
    bool integral = p == floor(p);
    for (int64_t i = 0; i < a->n; i++) {
        if (!integral && a->data[i] <= 0)
            return tg__fail(ctx, TG_ERR_NUMERIC, "pow: element %lld is %g, not positive (p = %g)",
                            (long long)i, (double)a->data[i], p);
        y->data[i] = (tg_float)pow((double)a->data[i], p);
    }
    tg_node *node = tg__record(ctx, TG_OP_POW, y, a, NULL, NULL);
    if (node) node->f[0] = p;
    return y;
}

void tg_pow_backward(tg_ctx *ctx, tg_node *n) {
    tg_tensor *a = n->in[0];
    if (!tg_requires_grad(a)) return;
    double p = n->f[0];
    tg_float *g = tg__grad(ctx, a);
    for (int64_t i = 0; i < a->n; i++)
        g[i] += (tg_float)(p * pow((double)a->data[i], p - 1) * (double)n->out->grad[i]);
}

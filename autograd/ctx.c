/* ctx.c: the per-step context: arena, error state, recording and training flags, dropout's
 * random stream. The arena is a list of chunks; when a step needed more than one, the reset
 * replaces them by one chunk big enough for the whole step, so from then on a fixed-shape step
 * takes nothing from the heap. */
#include "autograd/internal.h"

#include <stdlib.h>
#include <string.h>

#define ARENA_ALIGN 64
#define ARENA_DEFAULT (64u << 20)

static tg_arena_chunk *chunk_new(tg_ctx *ctx, size_t cap) {
    tg_arena_chunk *c = malloc(sizeof *c);
    if (!c) return NULL;
    /* a size whose rounding would wrap is refused (it would be a chunk of 0 bytes) */
    c->base = cap <= SIZE_MAX - ARENA_ALIGN ? aligned_alloc(ARENA_ALIGN, tg__arena_size(cap)) : NULL;
    if (!c->base) { free(c); return NULL; }
    c->cap = cap;
    c->used = 0;
    c->next = NULL;
    ctx->heap_allocs++;
    return c;
}

static void chunks_free(tg_arena_chunk *c) {
    while (c) {
        tg_arena_chunk *next = c->next;
        free(c->base);
        free(c);
        c = next;
    }
}

tg_ctx *tg_ctx_new(const tg_ctx_opts *opts) {
    tg_ctx_opts o = opts ? *opts : (tg_ctx_opts){0};
    tg_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return NULL;
    ctx->chunk_bytes = o.arena_bytes ? o.arena_bytes : ARENA_DEFAULT;
    ctx->pool = tg_pool_new(o.threads);
    ctx->chunks = chunk_new(ctx, ctx->chunk_bytes);
    if (!ctx->pool || !ctx->chunks) { tg_ctx_free(ctx); return NULL; }
    ctx->grad_enabled = true;
    ctx->training = true;
    ctx->rng = (tg_rng_state){o.seed, 0};
    return ctx;
}

void tg_ctx_free(tg_ctx *ctx) {
    if (!ctx) return;
    chunks_free(ctx->chunks);
    tg__peak_free(ctx);
    tg__prof_free(ctx);
    tg_pool_free(ctx->pool);
    free(ctx);
}

size_t tg__arena_size(size_t bytes) {
    if (bytes > SIZE_MAX - ARENA_ALIGN) return SIZE_MAX;   /* more than any chunk: refused by chunk_new */
    size_t need = (bytes + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
    return need ? need : ARENA_ALIGN;
}

void *tg_ctx_alloc(tg_ctx *ctx, size_t bytes) {
    size_t need = tg__arena_size(bytes);
    tg_arena_chunk *c = ctx->chunks;
    if (c->cap - c->used < need) {
        size_t cap = need > ctx->chunk_bytes ? need : ctx->chunk_bytes;
        tg_arena_chunk *fresh = chunk_new(ctx, cap);
        if (!fresh) return tg__fail(ctx, TG_ERR_NOMEM, "arena: cannot allocate %zu bytes", cap);
        fresh->next = c;
        ctx->chunks = c = fresh;
    }
    void *p = c->base + c->used;
    c->used += need;
    ctx->step_used += need;
    if (ctx->step_used > ctx->high_water) ctx->high_water = ctx->step_used;
    if (ctx->peak) tg__peak_alloc(ctx);
    return p;
}

void tg_ctx_reset(tg_ctx *ctx) {
    if (ctx->chunks->next) {
        /* this step outgrew the chunk: hold one chunk that fits the largest step so far */
        size_t cap = ctx->high_water + ctx->high_water / 8;
        tg_arena_chunk *one = chunk_new(ctx, cap);
        if (one) {
            chunks_free(ctx->chunks);
            ctx->chunks = one;
            ctx->chunk_bytes = cap;
        } else {   /* keep the chunks; the next step reuses the first */
            chunks_free(ctx->chunks->next);
            ctx->chunks->next = NULL;
        }
    }
    ctx->chunks->used = 0;
    ctx->step_used = 0;
    ctx->n_holes = 0;
    ctx->hole_bytes = 0;
    if (ctx->peak) tg__peak_reset(ctx);
    if (ctx->prof) tg__prof_reset(ctx);
    ctx->tape = NULL;
    ctx->tape_len = 0;
    ctx->status = TG_OK;
    ctx->errmsg[0] = '\0';
}

tg_pool *tg_ctx_pool(tg_ctx *ctx) { return ctx->pool; }
void tg_ctx_set_grad_enabled(tg_ctx *ctx, bool on) { ctx->grad_enabled = on; }
bool tg_ctx_grad_enabled(const tg_ctx *ctx) { return ctx->grad_enabled; }
void tg_ctx_set_training(tg_ctx *ctx, bool on) { ctx->training = on; }
bool tg_ctx_training(const tg_ctx *ctx) { return ctx->training; }
tg_rng_state tg_ctx_rng(const tg_ctx *ctx) { return ctx->rng; }
void tg_ctx_set_rng(tg_ctx *ctx, tg_rng_state s) { ctx->rng = s; }
tg_status tg_ctx_status(const tg_ctx *ctx) { return ctx->status; }
const char *tg_ctx_errmsg(const tg_ctx *ctx) { return ctx->errmsg; }
void tg_ctx_clear_error(tg_ctx *ctx) { ctx->status = TG_OK; ctx->errmsg[0] = '\0'; }
int tg_tape_len(const tg_ctx *ctx) { return ctx->tape_len; }

tg_arena_stats tg_ctx_arena_stats(const tg_ctx *ctx) {
    size_t cap = 0;
    for (tg_arena_chunk *c = ctx->chunks; c; c = c->next) cap += c->cap;
    return (tg_arena_stats){ctx->step_used - ctx->hole_bytes, ctx->high_water, cap, ctx->heap_allocs};
}

void *tg__fail(tg_ctx *ctx, tg_status st, const char *fmt, ...) {
    if (ctx->status == TG_OK) {
        ctx->status = st;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ctx->errmsg, sizeof ctx->errmsg, fmt, ap);
        va_end(ap);
    }
    return NULL;
}

/* splitmix64's finaliser over (seed, index): a counter-based stream, so each element's draw is
 * the same whichever thread makes it and however the work is split. */
double tg__uniform(uint64_t seed, uint64_t index) {
    uint64_t z = seed * 0x9E3779B97F4A7C15ull + index + 0x632BE59BD9B4E019ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (double)(z >> 11) * (1.0 / 9007199254740992.0);
}

/* arena_holes.c: space given back to the step's arena before its reset, and taken again.
 * Backward gives back each intermediate gradient once the node that made the tensor has run (all
 * its consumers ran before it), so the next gradients reuse that space: a step then holds only
 * the gradients still waiting for their producer, not every gradient at once. Holes are kept in
 * address order and merged with their neighbours in the same chunk; a request takes the front of
 * the smallest hole that fits (best fit), so the same step replays the same placements. Space
 * given back at the top of the chunk in use lowers the top instead (with a hole then below it). */
#include "autograd/internal.h"

static tg_arena_chunk *chunk_of(tg_ctx *ctx, const unsigned char *p) {
    for (tg_arena_chunk *c = ctx->chunks; c; c = c->next)
        if (p >= c->base && p < c->base + c->cap) return c;
    return NULL;
}

static void hole_remove(tg_ctx *ctx, int i) {
    for (int j = i; j + 1 < ctx->n_holes; j++) ctx->holes[j] = ctx->holes[j + 1];
    ctx->n_holes--;
}

void tg__arena_give_back(tg_ctx *ctx, void *ptr, size_t bytes) {
    unsigned char *p = ptr;
    size_t size = tg__arena_size(bytes);
    tg_arena_chunk *c = chunk_of(ctx, p);
    if (!c) return;
    if (c == ctx->chunks && p + size == c->base + c->used) {   /* the top: the arena shrinks */
        c->used -= size;
        ctx->step_used -= size;
        for (int h = 0; h < ctx->n_holes; h++)   /* and a hole left at the new top goes too */
            if (ctx->holes[h].chunk == c && ctx->holes[h].p + ctx->holes[h].bytes == c->base + c->used) {
                c->used -= ctx->holes[h].bytes;
                ctx->step_used -= ctx->holes[h].bytes;
                ctx->hole_bytes -= ctx->holes[h].bytes;
                hole_remove(ctx, h);
                break;
            }
        return;
    }
    int i = 0;
    while (i < ctx->n_holes && ctx->holes[i].p < p) i++;
    tg_arena_hole *prev = i > 0 ? &ctx->holes[i - 1] : NULL;
    tg_arena_hole *next = i < ctx->n_holes ? &ctx->holes[i] : NULL;
    bool join_prev = prev && prev->chunk == c && prev->p + prev->bytes == p;
    bool join_next = next && next->chunk == c && p + size == next->p;
    ctx->hole_bytes += size;
    if (join_prev && join_next) {
        prev->bytes += size + next->bytes;
        hole_remove(ctx, i);
    } else if (join_prev) {
        prev->bytes += size;
    } else if (join_next) {
        next->p = p;
        next->bytes += size;
    } else if (ctx->n_holes < TG_ARENA_HOLES) {
        for (int j = ctx->n_holes; j > i; j--) ctx->holes[j] = ctx->holes[j - 1];
        ctx->holes[i] = (tg_arena_hole){p, size, c};
        ctx->n_holes++;
    } else {
        ctx->hole_bytes -= size;   /* no room to remember it: it stays unused until the reset */
    }
}

void *tg__arena_take(tg_ctx *ctx, size_t bytes) {
    void *p = tg__arena_take_hole(ctx, bytes);
    return p ? p : tg_ctx_alloc(ctx, bytes);
}

void *tg__arena_take_spare(tg_ctx *ctx, size_t bytes) {
    void *p = tg__arena_take_hole(ctx, bytes);
    if (p) return p;
    size_t need = tg__arena_size(bytes);
    const tg_arena_chunk *c = ctx->chunks;
    if (c->cap - c->used < need || ctx->step_used + need > ctx->high_water) return NULL;
    return tg_ctx_alloc(ctx, bytes);
}

void *tg__arena_take_hole(tg_ctx *ctx, size_t bytes) {
    size_t size = tg__arena_size(bytes);
    int best = -1;
    for (int i = 0; i < ctx->n_holes; i++)
        if (ctx->holes[i].bytes >= size && (best < 0 || ctx->holes[i].bytes < ctx->holes[best].bytes))
            best = i;
    if (best < 0) return NULL;
    tg_arena_hole *h = &ctx->holes[best];
    unsigned char *p = h->p;
    h->p += size;
    h->bytes -= size;
    ctx->hole_bytes -= size;
    if (h->bytes == 0) hole_remove(ctx, best);
    return p;
}

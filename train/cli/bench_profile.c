/* bench_profile.c: where a training step's time goes, per op (forward, backward), its share of
 * the step, its GEMM rate or the bytes it moves per second, and the step's GEMM rate against what
 * the same GEMM shapes reach alone (`tapegrad bench gemm --config`). */
#include "train/cli/bench_profile.h"

#include <stdlib.h>

static bool is_gemm(const tg_op_profile *o) { return o->fwd_flop > 0 || o->bwd_flop > 0; }

static int cmp_time(const void *pa, const void *pb) {
    const tg_op_profile *a = pa, *b = pb;
    double x = a->fwd_s + a->bwd_s, y = b->fwd_s + b->bwd_s;
    return (x < y) - (x > y);   /* slowest first */
}

void tg_bench_profile_collect(tg_ctx *ctx, double step_s, double fwd_s, double bwd_s,
                              double opt_s, double bench_gemm_gflops, tg_bench_profile *p) {
    *p = (tg_bench_profile){.step_s = step_s, .fwd_s = fwd_s, .bwd_s = bwd_s, .opt_s = opt_s,
                            .bench_gemm_gflops = bench_gemm_gflops};
    p->n_ops = tg_ctx_profile_read(ctx, p->ops, &p->steps);
    double per = p->steps ? 1.0 / p->steps : 0;
    for (int i = 0; i < p->n_ops; i++) {
        tg_op_profile *o = &p->ops[i];
        o->fwd_s *= per; o->bwd_s *= per; o->fwd_flop *= per; o->bwd_flop *= per;
        o->fwd_bytes *= per; o->bwd_bytes *= per;
        o->nodes = p->steps ? o->nodes / p->steps : 0;
        if (is_gemm(o)) {
            p->gemm_s += o->fwd_s + o->bwd_s;
            p->gemm_flop += o->fwd_flop + o->bwd_flop;
        }
    }
    qsort(p->ops, (size_t)p->n_ops, sizeof p->ops[0], cmp_time);
    p->pool = tg_pool_stats_read(tg_ctx_pool(ctx));
    p->pool.sections = p->steps ? p->pool.sections / p->steps : 0;
    p->pool.wall_s *= per; p->pool.busy_s *= per; p->pool.wait_s *= per;
}

/* The share of the threads' time in sections spent waiting for a section's slowest part. */
static double wait_share(const tg_pool_stats *s) {
    return s->busy_s + s->wait_s > 0 ? s->wait_s / (s->busy_s + s->wait_s) : 0;
}

/* GFLOP/s for GEMM ops, else GB/s; the unit in *unit. */
static double rate(const tg_op_profile *o, const char **unit) {
    double s = o->fwd_s + o->bwd_s;
    if (s <= 0) { *unit = "-"; return 0; }
    if (is_gemm(o)) { *unit = "GFLOP/s"; return (o->fwd_flop + o->bwd_flop) / s * 1e-9; }
    *unit = "GB/s";
    return (o->fwd_bytes + o->bwd_bytes) / s * 1e-9;
}

static double gemm_gflops(const tg_bench_profile *p) {
    return p->gemm_s > 0 ? p->gemm_flop / p->gemm_s * 1e-9 : 0;
}

double tg_bench_profile_floor_s(const tg_bench_profile *p) {
    if (p->bench_gemm_gflops <= 0) return 0;
    return p->gemm_flop * 1e-9 / p->bench_gemm_gflops + (p->step_s - p->gemm_s);
}

void tg_bench_profile_print(FILE *f, const tg_bench_profile *p) {
    fprintf(f, "profile: mean per step over %d profiled steps (mean step %.4f s; medians: forward "
               "%.4f, backward %.4f, optimizer %.4f)\n", p->steps, p->step_s, p->fwd_s, p->bwd_s,
            p->opt_s);
    fprintf(f, "  %-20s %5s %9s %9s %7s %9s %9s\n", "op", "nodes", "fwd ms", "bwd ms", "share",
            "rate", "unit");
    double ops_s = 0;
    for (int i = 0; i < p->n_ops; i++) {
        const tg_op_profile *o = &p->ops[i];
        const char *unit;
        double r = rate(o, &unit);
        ops_s += o->fwd_s + o->bwd_s;
        fprintf(f, "  %-20s %5lld %9.2f %9.2f %6.1f%% %9.1f %9s\n", tg_op_name(o->op),
                (long long)o->nodes, o->fwd_s * 1e3, o->bwd_s * 1e3,
                100 * (o->fwd_s + o->bwd_s) / p->step_s, r, unit);
    }
    fprintf(f, "  %-20s %5s %9s %9s %6.1f%%\n", "optimizer+zeroing", "", "", "",
            100 * p->opt_s / p->step_s);
    fprintf(f, "  %-20s %5s %9s %9s %6.1f%%\n", "the rest", "", "", "",
            100 * (p->step_s - p->opt_s - ops_s) / p->step_s);
    fprintf(f, "GEMMs: %.1f GFLOP in %.4f s a step = %.1f GFLOP/s, %.1f%% of the step; the same "
               "shapes alone (bench gemm --config): %.1f GFLOP/s, so the step's GEMMs run at "
               "%.0f%% of that\n", p->gemm_flop * 1e-9, p->gemm_s, gemm_gflops(p),
            100 * p->gemm_s / p->step_s, p->bench_gemm_gflops,
            p->bench_gemm_gflops > 0 ? 100 * gemm_gflops(p) / p->bench_gemm_gflops : 0);
    /* The GEMMs ran faster in the step than alone (the brief measurement after the steps on a
     * loaded machine, or noise): the "floor" is then at or over the step, and no lower bound. */
    double floor_s = tg_bench_profile_floor_s(p);
    if (p->bench_gemm_gflops > 0)
        fprintf(f, "floor: with every GEMM op at that rate the step would take %.4f s, %.0f%% of "
                   "this one (%s)\n", floor_s, 100 * floor_s / p->step_s,
                floor_s < p->step_s ? "the rest as measured; a lower bound for these kernels here"
                                    : "not under it: the GEMMs ran slower alone than in the step, "
                                      "so no bound here; measure again on an idle machine");
    if (p->pool.sections)
        fprintf(f, "threads: %lld sections split over the threads a step, %.4f s of it; at their "
                   "ends the threads waited %.4f thread-seconds for the slowest part, %.1f%% of "
                   "their time in the sections\n", (long long)p->pool.sections, p->pool.wall_s,
                p->pool.wait_s, 100 * wait_share(&p->pool));
}

void tg_bench_profile_result(FILE *f, const tg_bench_profile *p) {
    fprintf(f, " gemm_s=%.4f gemm_gflop=%.2f gemm_gflops=%.1f bench_gemm_gflops=%.2f "
               "gemm_share=%.3f floor_s=%.4f sections=%lld sections_s=%.4f wait_s=%.4f "
               "wait_share=%.3f", p->gemm_s, p->gemm_flop * 1e-9, gemm_gflops(p),
            p->bench_gemm_gflops, p->gemm_s / p->step_s, tg_bench_profile_floor_s(p),
            (long long)p->pool.sections, p->pool.wall_s, p->pool.wait_s, wait_share(&p->pool));
}

void tg_bench_profile_json(FILE *f, const tg_bench_profile *p) {
    fprintf(f, ", \"profile\": {\"steps\": %d, \"gemm_s\": %.5f, \"gemm_gflop\": %.3f, "
               "\"gemm_gflops\": %.2f, \"bench_gemm_gflops\": %.2f, \"floor_s\": %.5f, "
               "\"sections\": %lld, \"sections_s\": %.5f, \"wait_s\": %.5f, "
               "\"wait_share\": %.4f, \"ops\": [",
            p->steps, p->gemm_s, p->gemm_flop * 1e-9, gemm_gflops(p), p->bench_gemm_gflops,
            tg_bench_profile_floor_s(p), (long long)p->pool.sections, p->pool.wall_s,
            p->pool.wait_s, wait_share(&p->pool));
    for (int i = 0; i < p->n_ops; i++) {
        const tg_op_profile *o = &p->ops[i];
        const char *unit;
        double r = rate(o, &unit);
        fprintf(f, "%s{\"op\": \"%s\", \"nodes\": %lld, \"fwd_s\": %.6f, \"bwd_s\": %.6f, "
                   "\"share\": %.4f, \"rate\": %.2f, \"unit\": \"%s\"}", i ? ", " : "",
                tg_op_name(o->op), (long long)o->nodes, o->fwd_s, o->bwd_s,
                (o->fwd_s + o->bwd_s) / p->step_s, r, unit);
    }
    fprintf(f, "]}");
}

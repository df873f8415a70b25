/* bench_profile.h: the time breakdown of `tapegrad bench step --profile`. */
#ifndef TG_BENCH_PROFILE_H
#define TG_BENCH_PROFILE_H

#include <stdio.h>

#include "autograd/autograd.h"

typedef struct tg_bench_profile {
    tg_op_profile ops[TG_OP_COUNT];   /* per step (divided by the profiled steps) */
    int n_ops, steps;
    double step_s;                        /* the bench's mean step */
    double fwd_s, bwd_s, opt_s;           /* its medians */
    double gemm_s, gemm_flop;             /* per step, over the GEMM ops */
    double bench_gemm_gflops;             /* `bench gemm --config`'s rate at the step's shapes */
    tg_pool_stats pool;                   /* per step: the threads' sections and their waits */
} tg_bench_profile;

/* Reads the context's profile and its pool's counts (counted over the same steps), and divides
 * them by the profiled steps. */
void tg_bench_profile_collect(tg_ctx *ctx, double step_s, double fwd_s, double bwd_s,
                              double opt_s, double bench_gemm_gflops, tg_bench_profile *p);
void tg_bench_profile_print(FILE *f, const tg_bench_profile *p);
/* The step with every GEMM op at bench_gemm_gflops: gemm_flop at that rate plus the step's time
 * outside the GEMM ops (0 without the rate). A lower bound for these kernels on this machine: the
 * GEMM ops' own other work (a bias, the loss's exponentials) is counted as GEMM time. */
double tg_bench_profile_floor_s(const tg_bench_profile *p);
/* " key=value ..." for the RESULT line. */
void tg_bench_profile_result(FILE *f, const tg_bench_profile *p);
/* ", \"profile\": {...}" for the JSON object. */
void tg_bench_profile_json(FILE *f, const tg_bench_profile *p);

#endif /* TG_BENCH_PROFILE_H */

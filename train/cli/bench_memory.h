/* bench_memory.h: the memory breakdown of `tapegrad bench step --memory`. */
#ifndef TG_BENCH_MEMORY_H
#define TG_BENCH_MEMORY_H

#include <stdio.h>

#include "autograd/autograd.h"

enum { TG_BENCH_HOLDERS = 12 };

typedef struct tg_bench_memory {
    double vm_hwm_mb;              /* the process's peak resident set (VmHWM), MB */
    size_t arena_high_water;       /* most arena bytes handed out in one step */
    size_t arena_capacity;         /* arena bytes held */
    size_t param_bytes, grad_bytes, adam_bytes;
    size_t scratch_bytes;          /* the kernels' per-thread scratch (GEMM packing) */
    long faults_first, faults_last;   /* minor page faults of the first and the last step */
    tg_mem_peak peak;              /* the last step's arena peak */
    tg_mem_holder top[TG_BENCH_HOLDERS];
    int n_top;
} tg_bench_memory;

/* Reads the process and the context (after the steps, with peak tracking on); faults: the
 * first and the last step's minor page faults. */
void tg_bench_memory_collect(const tg_ctx *ctx, int64_t n_params, int64_t adam_numel,
                             const long faults[2], tg_bench_memory *m);
/* The breakdown as a table. */
void tg_bench_memory_print(FILE *f, const tg_bench_memory *m);
/* " key=value ..." for the RESULT line. */
void tg_bench_memory_result(FILE *f, const tg_bench_memory *m);
/* ", \"memory\": {...}" for the JSON object. */
void tg_bench_memory_json(FILE *f, const tg_bench_memory *m);

#endif /* TG_BENCH_MEMORY_H */

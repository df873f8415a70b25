/* bench_memory.c: where a training step's memory goes. The process's peak resident set is
 * VmHWM from /proc/self/status (ru_maxrss where there is no /proc); the parameters, their
 * gradients and Adam's two moments are flat buffers of known size; the arena is reported by the
 * context, with the largest holders (op, output shape) at the last step's peak. */
#include "train/cli/bench_memory.h"
#include "autograd/kernels/kernels.h"

#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static const double MB = 1048576.0;

static double vm_hwm_mb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmHWM:", 6)) kb = strtol(line + 6, NULL, 10);
    if (f) fclose(f);
    if (kb < 0) {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        kb = ru.ru_maxrss;   /* KiB on Linux */
    }
    return (double)kb / 1024.0;
}

void tg_bench_memory_collect(const tg_ctx *ctx, int64_t n_params, int64_t adam_numel,
                             const long faults[2], tg_bench_memory *m) {
    memset(m, 0, sizeof *m);
    m->vm_hwm_mb = vm_hwm_mb();
    tg_arena_stats a = tg_ctx_arena_stats(ctx);
    m->arena_high_water = a.high_water;
    m->arena_capacity = a.capacity;
    m->param_bytes = m->grad_bytes = (size_t)n_params * sizeof(tg_float);
    m->adam_bytes = 2 * (size_t)adam_numel * sizeof(tg_float);
    m->scratch_bytes = tg_k_scratch_bytes();
    m->faults_first = faults[0];
    m->faults_last = faults[1];
    m->n_top = tg_ctx_peak_holders(ctx, m->top, TG_BENCH_HOLDERS, &m->peak);
}

static void shape_text(const tg_mem_holder *h, char *buf, size_t len) {
    size_t k = (size_t)snprintf(buf, len, "(");
    for (int d = 0; d < h->ndim && k < len; d++)
        k += (size_t)snprintf(buf + k, len - k, d ? ",%d" : "%d", h->shape[d]);
    if (k < len) snprintf(buf + k, len - k, ")");
}

static size_t total(const tg_mem_holder *h) { return h->data_bytes + h->grad_bytes + h->saved_bytes; }

void tg_bench_memory_print(FILE *f, const tg_bench_memory *m) {
    size_t fixed = m->param_bytes + m->grad_bytes + m->adam_bytes;
    /* the arena's pages past its high-water mark are held but never touched: not resident */
    fprintf(f, "memory: peak RSS (VmHWM) %.1f MB = parameters %.1f + gradients %.1f + Adam m,v "
               "%.1f + arena high-water %.1f (capacity %.1f) + kernel scratch %.1f + the rest "
               "(code, thread stacks, data, the first step's arena chunks) %.1f MB\n",
            m->vm_hwm_mb, m->param_bytes / MB, m->grad_bytes / MB, m->adam_bytes / MB,
            m->arena_high_water / MB, m->arena_capacity / MB, m->scratch_bytes / MB,
            m->vm_hwm_mb - (double)(fixed + m->arena_high_water + m->scratch_bytes) / MB);
    fprintf(f, "page faults (first touches, 4 KiB each): first step %ld, last step %ld\n",
            m->faults_first, m->faults_last);
    fprintf(f, "arena: high-water %.1f MB; last step's peak %.1f MB = tape %.1f (below) + free "
               "holes %.1f + other (nodes, masks, positions, scratch) %.1f MB\n",
            m->arena_high_water / MB, m->peak.bytes / MB, m->peak.tape_bytes / MB,
            m->peak.holes / MB,
            (double)(m->peak.bytes - m->peak.holes - m->peak.tape_bytes) / MB);
    fprintf(f, "largest holders at the peak:\n  %-20s %-18s %5s %10s %10s %10s %10s\n", "op",
            "output shape", "count", "values MB", "grads MB", "saved MB", "total MB");
    for (int i = 0; i < m->n_top; i++) {
        const tg_mem_holder *h = &m->top[i];
        char s[64];
        shape_text(h, s, sizeof s);
        fprintf(f, "  %-20s %-18s %5d %10.1f %10.1f %10.1f %10.1f\n", tg_op_name(h->op), s,
                h->count, h->data_bytes / MB, h->grad_bytes / MB, h->saved_bytes / MB,
                total(h) / MB);
    }
}

void tg_bench_memory_result(FILE *f, const tg_bench_memory *m) {
    fprintf(f, " vm_hwm_mb=%.1f arena_hw_mb=%.1f arena_cap_mb=%.1f params_mb=%.1f grads_mb=%.1f "
               "adam_mb=%.1f scratch_mb=%.1f peak_tape_mb=%.1f faults_first=%ld faults_last=%ld",
            m->vm_hwm_mb, m->arena_high_water / MB, m->arena_capacity / MB, m->param_bytes / MB,
            m->grad_bytes / MB, m->adam_bytes / MB, m->scratch_bytes / MB, m->peak.tape_bytes / MB,
            m->faults_first, m->faults_last);
    if (m->n_top > 0) {
        char s[64];
        shape_text(&m->top[0], s, sizeof s);
        fprintf(f, " top_holder=%s%s:%.1fMBx%d", tg_op_name(m->top[0].op), s,
                total(&m->top[0]) / MB, m->top[0].count);
    }
}

void tg_bench_memory_json(FILE *f, const tg_bench_memory *m) {
    fprintf(f, ", \"memory\": {\"vm_hwm_mb\": %.1f, \"arena_hw_mb\": %.1f, \"arena_cap_mb\": %.1f, "
               "\"params_mb\": %.1f, \"grads_mb\": %.1f, \"adam_mb\": %.1f, \"peak_mb\": %.1f, "
               "\"peak_holes_mb\": %.1f, \"peak_tape_mb\": %.1f, \"scratch_mb\": %.1f, "
               "\"faults_first\": %ld, \"faults_last\": %ld, \"holders\": [",
            m->vm_hwm_mb, m->arena_high_water / MB, m->arena_capacity / MB, m->param_bytes / MB,
            m->grad_bytes / MB, m->adam_bytes / MB, m->peak.bytes / MB, m->peak.holes / MB,
            m->peak.tape_bytes / MB, m->scratch_bytes / MB, m->faults_first, m->faults_last);
    for (int i = 0; i < m->n_top; i++) {
        const tg_mem_holder *h = &m->top[i];
        fprintf(f, "%s{\"op\": \"%s\", \"shape\": [", i ? ", " : "", tg_op_name(h->op));
        for (int d = 0; d < h->ndim; d++) fprintf(f, d ? ", %d" : "%d", h->shape[d]);
        fprintf(f, "], \"count\": %d, \"values_mb\": %.2f, \"grads_mb\": %.2f, \"saved_mb\": %.2f}",
                h->count, h->data_bytes / MB, h->grad_bytes / MB, h->saved_bytes / MB);
    }
    fprintf(f, "]}");
}

/* dispatch.c: which kernel implementation runs. The choice is a process-wide setting read at
 * the entry of every kernel (on the calling thread, before work is handed to the pool), so one
 * kernel call never mixes implementations. */
#include "autograd/internal.h"
#include "autograd/kernels/kernels.h"
#include "autograd/kernels/kernels_impl.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static atomic_int current = TG_K_AUTO;   /* AUTO: not chosen yet */
static atomic_flag warned = ATOMIC_FLAG_INIT;   /* a bad TAPEGRAD_KERNELS was reported (once a process) */

/* The best implementation this CPU and this build support. */
static tg_k_impl cpu_best(void) {
#if TG_K_HAVE_AVX2
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) return TG_K_PORTABLE;
#if TG_K_HAVE_AVX512_GEMM
    if (__builtin_cpu_supports("avx512f")) return TG_K_AVX512;
#endif
    return TG_K_AVX2;
#else
    return TG_K_PORTABLE;
#endif
}

bool tg_k_impl_parse(const char *s, tg_k_impl *out) {
    if (!s) return false;
    if (!strcmp(s, "portable")) *out = TG_K_PORTABLE;
    else if (!strcmp(s, "avx2")) *out = TG_K_AVX2;
    else if (!strcmp(s, "avx512")) *out = TG_K_AVX512;
    else if (!strcmp(s, "auto")) *out = TG_K_AUTO;
    else return false;
    return true;
}

tg_k_impl tg_k_select(tg_k_impl want) {
    if (want == TG_K_AUTO) {
        tg_k_impl env;
        const char *text = getenv("TAPEGRAD_KERNELS");
        if (tg_k_impl_parse(text, &env)) want = env;
        else if (text && *text && !atomic_flag_test_and_set(&warned)) {   /* a typo would go unnoticed */
            fputs("tapegrad: TAPEGRAD_KERNELS=", stderr);
            tg__fput_env_value(stderr, text);
            fputs(" is not one of portable|avx2|avx512|auto: ignored, the best kernels this CPU supports run\n",
                  stderr);
        }
    }
    tg_k_impl best = cpu_best();
    if (want == TG_K_AUTO || want > best) want = best;
    atomic_store_explicit(&current, want, memory_order_relaxed);
    return want;
}

tg_k_impl tg_k_current(void) {
    tg_k_impl k = (tg_k_impl)atomic_load_explicit(&current, memory_order_relaxed);
    return k == TG_K_AUTO ? tg_k_select(TG_K_AUTO) : k;
}

const char *tg_k_impl_name(tg_k_impl impl) {
    switch (impl) {
    case TG_K_PORTABLE: return "portable";
    case TG_K_AVX2: return "avx2";
    case TG_K_AVX512: return "avx512";
    default: return "auto";
    }
}

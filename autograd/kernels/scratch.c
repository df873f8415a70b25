/* scratch.c: per-thread scratch buffers for the kernels (GEMM packing panels). Each thread
 * (the caller and every pool worker) keeps its own buffers, grown on demand and freed when the
 * thread exits, so a kernel never allocates in the steady state and threads never share one. */
#include "autograd/kernels/kernels_impl.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

enum { SLOTS = 4 };

typedef struct {
    void *p[SLOTS];
    size_t cap[SLOTS];
} scratch_set;

static atomic_size_t held;   /* bytes held by every thread's buffers, for memory reports */
static pthread_key_t key;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static bool key_ok;

static void scratch_free(void *arg) {
    scratch_set *s = arg;
    for (int i = 0; i < SLOTS; i++) {
        free(s->p[i]);
        atomic_fetch_sub(&held, s->cap[i]);
    }
    free(s);
}

size_t tg_k_scratch_bytes(void) { return atomic_load(&held); }

static void make_key(void) { key_ok = pthread_key_create(&key, scratch_free) == 0; }

void *tg_k_scratch(int slot, size_t bytes) {
    if (slot < 0 || slot >= SLOTS) return NULL;
    pthread_once(&once, make_key);
    if (!key_ok) return NULL;
    scratch_set *s = pthread_getspecific(key);
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s) return NULL;
        if (pthread_setspecific(key, s) != 0) { free(s); return NULL; }
    }
    if (s->cap[slot] < bytes) {
        size_t cap = bytes + bytes / 4;
        void *p = NULL;
        if (posix_memalign(&p, 64, cap) != 0) return NULL;
        free(s->p[slot]);
        atomic_fetch_add(&held, cap - s->cap[slot]);
        s->p[slot] = p;
        s->cap[slot] = cap;
    }
    return s->p[slot];
}

/* run_overlap.c: over MPI, the gradient sum overlaps the backward pass. The gradient buffer is cut
 * into buckets of whole parameters, from the last parameter back (the walk reaches the last
 * layers first); a bucket is final once the backward walk has passed the last node that uses any
 * of its parameters (tg_backward_leaf_final), and is then handed to the summing thread
 * (tg_dist_sum_begin). The sum of each element is the same chain as tg_dist_sum's, so the bits do
 * not change. TAPEGRAD_MPI_BUCKET=N sets the bucket size in elements (tests use small ones). */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/run/dist.h"
#include "train/run/run.h"
#include "train/run/text_out.h"

#define BUCKET_ELEMS ((int64_t)1 << 20)   /* 4 MB of float: a few per model layer */

bool tg_run_bucket_parse(const char *text, int64_t *out) {
    if (!text || text[0] < '0' || text[0] > '9') return false;   /* (digits only: no blank, no sign) */
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (*end || errno || v <= 0) return false;
    *out = v;
    return true;
}

int64_t tg_run_overlap_bucket_elems(void) {
    static atomic_flag warned = ATOMIC_FLAG_INIT;
    const char *e = getenv("TAPEGRAD_MPI_BUCKET");
    int64_t v;
    if (!e || !*e) return BUCKET_ELEMS;
    if (tg_run_bucket_parse(e, &v)) return v;
    /* atoll took "12abc" as 12 and "abc" as unset; ignored as TAPEGRAD_THREADS's and
     * TAPEGRAD_KERNELS's typos are (the bucket size changes no bits, only the overlap) */
    if (!atomic_flag_test_and_set(&warned)) {
        char shown[256];
        fprintf(stderr, "tapegrad: TAPEGRAD_MPI_BUCKET=%s is not a bucket size (a whole number of elements above "
                "0): ignored, %lld elements\n", tg_shown(shown, sizeof shown, e), (long long)BUCKET_ELEMS);
    }
    return BUCKET_ELEMS;
}

struct tg_overlap {
    int n_params, nb, next;
    tg_tensor **leaves;        /* (n_params) the parameters */
    int64_t *final_after;      /* (n_params) walked count after which each gradient is final */
    int *first;                /* (nb) bucket b: parameters [first[b], first[b-1]) (to n for b = 0) */
    tg_dist_bucket *bucket;    /* (nb) */
    int64_t *bucket_final;     /* (nb) */
    int *order;                /* (nb) buckets by bucket_final */
    bool on;                   /* a sum is running */
    int64_t cut;               /* > 0: the walk announces no bucket final after this count */
    double early, total;       /* gradient elements final before the last bucket, and in all */
};

void tg_run_overlap_free(struct tg_overlap *o) {
    if (!o) return;
    free(o->leaves);
    free(o->final_after);
    free(o->first);
    free(o->bucket);
    free(o->bucket_final);
    free(o->order);
    free(o);
}

/* Buckets of whole parameters from the last one back, each at least `size` elements (the last
 * bucket what is left). NULL if the gradients are not one contiguous run in declaration order, or
 * (*oom) out of memory. */
static struct tg_overlap *build(tg_params *P, bool *oom) {
    struct tg_overlap *o = calloc(1, sizeof *o);
    int n = tg_params_len(P);
    *oom = !o;
    if (!o) return NULL;
    o->n_params = n;
    o->leaves = malloc((size_t)n * sizeof *o->leaves);
    o->final_after = malloc((size_t)n * sizeof *o->final_after);
    o->first = malloc((size_t)(n + 1) * sizeof *o->first);
    o->bucket = malloc((size_t)(n + 1) * sizeof *o->bucket);
    o->bucket_final = malloc((size_t)(n + 1) * sizeof *o->bucket_final);
    o->order = malloc((size_t)(n + 1) * sizeof *o->order);
    if (!o->leaves || !o->final_after || !o->first || !o->bucket || !o->bucket_final || !o->order) {
        tg_run_overlap_free(o);
        *oom = true;
        return NULL;
    }
    int64_t size = tg_run_overlap_bucket_elems(), at = 0;
    const tg_float *g = tg_params_grad(P);
    for (int i = 0; i < n; i++) {
        o->leaves[i] = tg_params_at(P, i);
        if (o->leaves[i]->grad != g + at) { tg_run_overlap_free(o); return NULL; }
        at += o->leaves[i]->n;
    }
    /* bucket b: parameters [first[b], end) where end is first[b-1] (n for b = 0) */
    int end = n;
    while (end > 0) {
        int lo = end;
        int64_t elems = 0;
        while (lo > 0 && elems < size) elems += o->leaves[--lo]->n;
        o->first[o->nb] = lo;
        o->bucket[o->nb] = (tg_dist_bucket){(size_t)(o->leaves[lo]->grad - g), (size_t)elems};
        o->nb++;
        end = lo;
    }
    if (o->nb == 0) { tg_run_overlap_free(o); return NULL; }
    return o;
}

static void announce(struct tg_overlap *o, int64_t walked) {
    if (o->cut > 0 && walked > o->cut && walked != INT64_MAX) return;
    while (o->next < o->nb && o->bucket_final[o->order[o->next]] <= walked) {
        tg_dist_sum_ready(o->order[o->next++]);
    }
}

void tg_run_overlap_hook(void *user, int64_t walked) { announce(user, walked); }

tg_status tg_run_overlap_prepare(tg_run *r, tg_err *err) {
    bool oom = false;
    if (tg_dist_size() > 1 && !r->overlap) r->overlap = build(tg_model_params(r->model), &oom);
    return oom ? tg_err_set(err, TG_ERR_NOMEM, "out of memory for the gradient's buckets") : TG_OK;
}

tg_status tg_run_overlap_begin(tg_run *r, const tg_tensor *loss, bool *on, tg_err *err) {
    *on = false;
    tg_params *P = tg_model_params(r->model);
    struct tg_overlap *o = r->overlap;
    if (!o) return TG_OK;   /* not possible (on every rank alike): the plain sum */
    if (loss && tg_backward_leaf_final(loss, o->n_params, o->leaves, o->final_after) != TG_OK)
        return tg_err_set(err, TG_ERR_NOMEM, "out of memory");
    if (!loss) memset(o->final_after, 0, (size_t)o->n_params * sizeof *o->final_after);
    for (int b = 0, end = o->n_params; b < o->nb; end = o->first[b], b++) {
        o->bucket_final[b] = 0;
        for (int i = o->first[b]; i < end; i++)
            if (o->final_after[i] > o->bucket_final[b]) o->bucket_final[b] = o->final_after[i];
        int k = b;   /* insertion sort by (bucket_final, b): a handful of buckets */
        while (k > 0 && o->bucket_final[o->order[k - 1]] > o->bucket_final[b]) { o->order[k] = o->order[k - 1]; k--; }
        o->order[k] = b;
    }
    tg_err e2;
    if (tg_dist_sum_begin(tg_params_grad(P), o->bucket, o->nb, &e2) != TG_OK)
        return TG_OK;   /* this MPI cannot (every rank alike): the plain sum after backward */
    o->on = *on = true;
    o->next = 0;
    o->cut = 0;
    int64_t last = o->bucket_final[o->order[o->nb - 1]];
    for (int b = 0; b < o->nb; b++) {
        o->total += (double)o->bucket[b].len;
        if (o->bucket_final[b] < last) o->early += (double)o->bucket[b].len;
    }
    announce(o, 0);   /* parameters this walk does not touch */
    return TG_OK;
}

void tg_run_overlap_cut(tg_run *r) {
    struct tg_overlap *o = r->overlap;
    if (o && o->on) o->cut = o->bucket_final[o->order[o->nb - 1]] / 2;
}

tg_status tg_run_overlap_end(tg_run *r, tg_err *err) {
    struct tg_overlap *o = r->overlap;
    if (!o || !o->on) return TG_OK;
    o->on = false;
    announce(o, INT64_MAX);
    return tg_dist_sum_end(err);
}

double tg_run_overlap_early(const tg_run *r) {
    return r->overlap && r->overlap->total > 0 ? r->overlap->early / r->overlap->total : 0;
}

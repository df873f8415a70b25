/* diagnostics.c: --diagnostics N (see diagnostics.h): the fixed batch, the rows, the file. */
#include "train/run/diagnostics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "datasets/shown.h"
#include "train/run/dist.h"
#include "train/run/progress.h"

static const char DIAG_HEADER[] = "step\tstack\tlayer\tsublayer\tmetric\tvalue\n";

static void diag_path(const tg_run *r, char *path, size_t len) {
    snprintf(path, len, "%s/diagnostics.tsv", r->cfg.out);
}

/* Rows 0..B-1 of ds, padded: src (B, S) = pieces + eos, tgt_in (B, T) = bos + pieces. */
static tg_status build_batch(tg_run_diag *d, const tg_dataset *ds, int max_tokens, tg_err *err) {
    int B = 0, S = 0, T = 0;
    while ((size_t)B < ds->n) {
        int s = ds->src_len[B] + 1 > S ? ds->src_len[B] + 1 : S;
        int t = ds->tgt_len[B] + 1 > T ? ds->tgt_len[B] + 1 : T;
        if (B > 0 && (int64_t)(B + 1) * (s + t) > max_tokens) break;
        S = s;
        T = t;
        B++;
    }
    if (B == 0) return tg_err_set(err, TG_ERR_ARG, "--diagnostics: no sentence pair to diagnose");
    d->src = calloc((size_t)B * S, sizeof *d->src);
    d->tgt_in = calloc((size_t)B * T, sizeof *d->tgt_in);
    if (!d->src || !d->tgt_in) return tg_err_set(err, TG_ERR_NOMEM, "--diagnostics: out of memory");
    for (int b = 0; b < B; b++) {
        const int32_t *p = ds->ids + ds->off[b];
        memcpy(d->src + (size_t)b * S, p, sizeof *p * (size_t)ds->src_len[b]);
        d->src[(size_t)b * S + ds->src_len[b]] = TG_EOS_ID;
        d->tgt_in[(size_t)b * T] = TG_BOS_ID;
        memcpy(d->tgt_in + (size_t)b * T + 1, p + ds->src_len[b], sizeof *p * (size_t)ds->tgt_len[b]);
    }
    d->B = B;
    d->S = S;
    d->T = T;
    return TG_OK;
}

/* A trim's warning, when it dropped lines that are not rows (progress.h). */
static void warn_dropped(const char *who, const char *path, const tg_tsv_dropped *dropped) {
    char text[600];
    if (tg_tsv_dropped_text(path, dropped, text, sizeof text)) fprintf(stderr, "tapegrad %s: warning: %s\n", who, text);
}

static tg_status open_file(tg_run_diag *d, const tg_run *r, tg_err *err) {
    char path[TG_PATH_MAX + 32], msg[512];
    diag_path(r, path, sizeof path);
    tg_tsv_dropped dropped;
    if (tg_tsv_open(path, DIAG_HEADER, 0, r->st.step, &dropped, &d->fd, msg, sizeof msg) != 0)
        return tg_err_set(err, TG_ERR_IO, "%s", msg);
    warn_dropped("train", path, &dropped);
    return TG_OK;
}

/* The batch and the layers' statistics; the rows go to RUNDIR/diagnostics.tsv, or with in_memory
 * to d->buf (a memory stream). */
static tg_status diag_open(tg_run_diag *d, const tg_run *r, bool in_memory, tg_err *err) {
    memset(d, 0, sizeof *d);
    d->grads_step = -1;
    d->fd = -1;
    if (in_memory && !(d->f = open_memstream(&d->buf, &d->len)))
        return tg_err_set(err, TG_ERR_NOMEM, "--diagnostics: out of memory");
    /* Over MPI rank 0 alone writes the run folder; every rank holds the same model and summed
     * gradient, and diagnostics draw nothing random, so the others skip them. */
    if (tg_dist_rank() != 0) return TG_OK;
    if (r->cfg.diagnostics <= 0) {   /* off, but a file there loses the rows of the part a kill lost */
        char path[TG_PATH_MAX + 32], msg[512];
        diag_path(r, path, sizeof path);
        tg_tsv_dropped dropped = {0};
        bool ok = in_memory || tg_tsv_trim(path, DIAG_HEADER, 0, r->st.step, NULL, &dropped, msg, sizeof msg) == 0;
        if (ok) warn_dropped("train", path, &dropped);
        return ok ? TG_OK : tg_err_set(err, TG_ERR_IO, "%s", msg);
    }
    d->every = r->cfg.diagnostics;
    d->enc = calloc((size_t)r->mcfg.enc_layers, sizeof *d->enc);
    d->dec = calloc((size_t)r->mcfg.dec_layers, sizeof *d->dec);
    tg_status s = d->enc && d->dec ? TG_OK : tg_err_set(err, TG_ERR_NOMEM, "--diagnostics: out of memory");
    if (s == TG_OK) s = build_batch(d, r->dev.n ? &r->dev : &r->train, r->cfg.max_tokens, err);
    if (s == TG_OK && !in_memory) s = open_file(d, r, err);
    if (s != TG_OK) tg_run_diag_close(d);
    return s;
}

tg_status tg_run_diag_open(tg_run_diag *d, const tg_run *r, tg_err *err) {
    return diag_open(d, r, false, err);
}

tg_status tg_run_diag_open_rewrite(tg_run_diag *d, const tg_run *r, int64_t keep_step, tg_err *err) {
    tg_status s = diag_open(d, r, true, err);
    if (s != TG_OK) return s;
    char path[TG_PATH_MAX + 32];
    diag_path(r, path, sizeof path);
    /* checked now (a link, a device, a line too long: said before the checkpoints' work), made
     * again at the commit: a temporary standing through that work would hold Ctrl-C that long */
    s = tg_tsv_rewrite_open(&d->out, path, DIAG_HEADER, 0, keep_step, &d->dropped, err);
    if (s != TG_OK) {
        tg_run_diag_close(d);
        return s;
    }
    tg_afile_abort(&d->out);
    d->rewrite = true;
    d->keep_step = keep_step;
    return s;
}

tg_status tg_run_diag_commit(tg_run_diag *d, const tg_run *r, tg_err *err) {
    bool ok = fclose(d->f) == 0;
    d->f = NULL;
    d->rewrite = false;
    char path[TG_PATH_MAX + 32];
    diag_path(r, path, sizeof path);
    if (!ok) return tg_err_set(err, TG_ERR_NOMEM, "%s: out of memory", TG_SHOWN(path));
    tg_status s = tg_tsv_rewrite_open(&d->out, path, DIAG_HEADER, 0, d->keep_step, &d->dropped, err);
    if (s != TG_OK) return s;
    s = tg_afile_write(&d->out, d->buf, d->len, err);
    if (s != TG_OK) {
        tg_afile_abort(&d->out);
        return s;
    }
    s = tg_afile_commit(&d->out, err);
    if (s == TG_OK) warn_dropped("ckpt diagnose", path, &d->dropped);
    return s;
}

void tg_run_diag_close(tg_run_diag *d) {
    if (d->f) fclose(d->f);
    if (d->fd >= 0) close(d->fd);
    free(d->buf);
    free(d->src);
    free(d->tgt_in);
    free(d->enc);
    free(d->dec);
    memset(d, 0, sizeof *d);
    d->fd = -1;
}

tg_status tg_run_diag_rewind(tg_run_diag *d, const tg_run *r, tg_err *err) {
    if (!d->every) return TG_OK;
    close(d->fd);
    d->fd = -1;
    d->grads_step = -1;
    return open_file(d, r, err);
}

tg_status tg_run_diag_sync(tg_run_diag *d, const tg_run *r, tg_err *err) {
    if (d->fd < 0) return TG_OK;
    char path[TG_PATH_MAX + 32];
    diag_path(r, path, sizeof path);
    return tg_afile_fd_sync(d->fd, path, err);
}

bool tg_run_diag_due(const tg_run_diag *d, int64_t step) {
    return d->every > 0 && step % d->every == 0;
}

void tg_run_diag_grads(tg_run_diag *d, const tg_model *m, int64_t step) {
    tg_model_layer_grad_norms(m, d->enc, d->dec);
    d->grads_step = step;
}

static void row(FILE *f, int64_t step, const char *stack, int layer, const char *sub,
                const char *metric, double v) {
    if (isfinite(v))
        fprintf(f, "%lld\t%s\t%d\t%s\t%s\t%.6g\n", (long long)step, stack, layer, sub, metric, v);
}

static void stack_rows(FILE *f, int64_t step, const char *stack, const tg_diag_layer *L, int n,
                       bool grads) {
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < TG_DIAG_SUBLAYERS; k++) {
            const tg_diag_sublayer *s = &L[i].sub[k];
            const char *name = tg_diag_sublayer_name((tg_diag_sublayer_kind)k);
            if (!s->present) continue;
            row(f, step, stack, i, name, "zero_frac", s->zero_frac);
            row(f, step, stack, i, name, "branch_mean", s->branch_mean);
            row(f, step, stack, i, name, "branch_rms", s->branch_rms);
            row(f, step, stack, i, name, "resid_dep", s->resid_dep);
            row(f, step, stack, i, name, "attn_entropy", s->attn_entropy);
        }
        row(f, step, stack, i, "layer", "rank_resid", L[i].rank_resid);
        if (grads) row(f, step, stack, i, "layer", "grad_norm", L[i].grad_norm);
    }
}

tg_status tg_run_diag_write(tg_run_diag *d, tg_run *r, int64_t step, tg_err *err) {
    tg_status s = tg_model_diagnose(r->model, r->ctx, d->src, d->tgt_in, d->B, d->S, d->T, d->enc,
                                    d->dec, err);
    if (s != TG_OK) return s;
    bool grads = d->grads_step == step;
    /* ckpt diagnose gathers every step's rows in d->f; training writes each step's in one write */
    char *buf = NULL;
    size_t len = 0;
    FILE *f = d->rewrite ? d->f : open_memstream(&buf, &len);
    if (!f) return tg_err_set(err, TG_ERR_NOMEM, "--diagnostics: out of memory");
    stack_rows(f, step, "enc", d->enc, r->mcfg.enc_layers, grads);
    stack_rows(f, step, "dec", d->dec, r->mcfg.dec_layers, grads);
    bool ok = d->rewrite ? fflush(f) == 0 && !ferror(f) : fclose(f) == 0;
    char path[TG_PATH_MAX + 32];
    diag_path(r, path, sizeof path);
    s = ok ? TG_OK : tg_err_set(err, TG_ERR_NOMEM, "%s: out of memory", TG_SHOWN(path));
    if (s == TG_OK && !d->rewrite) s = tg_afile_fd_write(d->fd, buf, len, path, err);
    free(buf);
    return s;
}

/* diagnostics.h: `train --diagnostics N`: every N steps, per-layer statistics of the model on a
 * fixed batch (nn's tg_model_diagnose, no-grad) and the step's per-layer gradient norms, appended
 * to RUNDIR/diagnostics.tsv in long format:
 *
 *   step<TAB>stack<TAB>layer<TAB>sublayer<TAB>metric<TAB>value
 *   100     enc        0          self_attn    zero_frac    0.4812
 *
 * stack enc|dec, layer 0-based, sublayer self_attn|cross_attn|ffn|layer; metrics zero_frac,
 * branch_mean, branch_rms, resid_dep, attn_entropy (per sub-layer; zero_frac and attn_entropy for
 * attentions only), rank_resid and grad_norm (sublayer "layer"). A value that is not a number
 * (a variance of 0, say) has no row. Reading the model changes nothing in training: no random
 * draws, no parameter or gradient written. Private to train/. */
#ifndef TG_RUN_DIAGNOSTICS_H
#define TG_RUN_DIAGNOSTICS_H

#include <stdio.h>

#include "train/ckpt/atomic_file.h"
#include "train/run/progress.h"
#include "train/run/run.h"

typedef struct tg_run_diag {
    int every;                /* 0: off */
    int32_t *src, *tgt_in;    /* the fixed batch: (B, S) sources + eos, (B, T) bos + targets */
    int B, S, T;
    tg_diag_layer *enc, *dec; /* (enc_layers), (dec_layers) */
    int64_t grads_step;       /* the step whose gradient norms enc/dec hold (-1: none) */
    int fd;                   /* diagnostics.tsv, appended to (-1: none) */
    FILE *f;
    bool rewrite;             /* tg_run_diag_open_rewrite: f gathers the rows in buf, for out */
    int64_t keep_step;        /* the rewrite keeps the old file's rows up to this step */
    tg_afile out;
    tg_tsv_dropped dropped;   /* what the rewrite leaves out of the old file, said at the commit */
    char *buf;
    size_t len;
} tg_run_diag;

/* Off when r->cfg.diagnostics is 0. Else builds the batch: the first dev pairs (the first
 * training pairs without a dev set) while the padded batch holds at most --max-tokens tokens
 * (one pair at least), and opens diagnostics.tsv without the rows past r->st.step. */
tg_status tg_run_diag_open(tg_run_diag *d, const tg_run *r, tg_err *err);
/* For ckpt diagnose, RUNDIR/diagnostics.tsv rewritten whole: its header and rows up to keep_step,
 * then the rows written through d, replace it at tg_run_diag_commit, in one rename (atomic_file.h):
 * the old file is checked here and read again there, so that no temporary stands (holding Ctrl-C)
 * through the work between; a kill or an error before the commit leaves the file as it was. */
tg_status tg_run_diag_open_rewrite(tg_run_diag *d, const tg_run *r, int64_t keep_step, tg_err *err);
tg_status tg_run_diag_commit(tg_run_diag *d, const tg_run *r, tg_err *err);
void tg_run_diag_close(tg_run_diag *d);
/* The rows written so far on disk (fflush, fsync), before a checkpoint is saved past them. */
tg_status tg_run_diag_sync(tg_run_diag *d, const tg_run *r, tg_err *err);
/* After a reload of an earlier checkpoint: drops the rows past the run's step again. */
tg_status tg_run_diag_rewind(tg_run_diag *d, const tg_run *r, tg_err *err);

/* Whether update number `step` (1-based) gets diagnostics. */
bool tg_run_diag_due(const tg_run_diag *d, int64_t step);
/* Called between backward and clipping in update `step` when due: the raw gradient norms. */
void tg_run_diag_grads(tg_run_diag *d, const tg_model *m, int64_t step);
/* After update `step` (due): the statistics of the fixed batch and the rows of the step. */
tg_status tg_run_diag_write(tg_run_diag *d, tg_run *r, int64_t step, tg_err *err);

/* For a run trained without --diagnostics: the same statistics of each kept checkpoint
 * (step-N.ckpt, and last.ckpt when newer) on the same fixed batch, written to
 * RUNDIR/diagnostics.tsv with the checkpoint's step (no grad_norm rows: a checkpoint holds no
 * training step's gradient). Idempotent: the rows at each checkpoint's step are replaced, but for
 * grad_norm rows training wrote there, which are kept, as are its rows at the steps between (a run
 * trained with --diagnostics, then resumed without); rows past the run's step are dropped.
 * Nothing is done (*n_done 0) when the run has its own diagnostics. (diagnose_ckpts.c) */
tg_status tg_run_diagnose_checkpoints(const char *rundir, int threads, int *n_done, tg_err *err);

#endif /* TG_RUN_DIAGNOSTICS_H */

/* run.h: a training run, everything a checkpoint must hold to continue as if never stopped, and
 * the pieces that train, translate, eval and ckpt share (loading a model from a checkpoint).
 * Private to train/. */
#ifndef TG_RUN_H
#define TG_RUN_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "autograd/autograd.h"
#include "datasets/datasets.h"
#include "nn/nn.h"
#include "optim/optim.h"
#include "train/metrics/metrics.h"
#include "train/run/options.h"

/* The model's positions table covers this many tokens; longer inputs are cut when translating. */
#define TG_RUN_MAX_POSITIONS 1024
/* Pieces a side of a training pair may have: the source gets an eos, the decoder input a bos. */
#define TG_RUN_MAX_PIECES (TG_RUN_MAX_POSITIONS - 1)

/* The mutable state of a run besides parameters and optimiser moments: section "state". */
typedef struct tg_run_state {
    int64_t step;                 /* updates done */
    tg_batch_iter_state iter;     /* where the data iterator stands */
    tg_rng_state dropout_rng;     /* the context's dropout stream */
    double best_bleu;             /* best dev BLEU so far (-1: none yet) */
    int64_t best_step;
    int64_t bad_validations;      /* validations since the best, for --patience */
    int64_t bad_steps;            /* NaN/Inf updates in a row */
    int64_t skipped_steps;        /* NaN/Inf updates skipped in all */
    int64_t reloads;              /* times the run went back to the last checkpoint */
    double lr_scale;              /* 1, halved at each reload */
    double train_seconds;         /* training time so far, for --time-limit */
    int64_t tokens_seen;          /* target tokens trained on */
} tg_run_state;

/* The sums behind the next `train` row of metrics.tsv, over the updates since the last row:
 * section "interval" of a checkpoint, so a resumed run's rows average the same steps as an
 * uninterrupted run's. */
typedef struct tg_run_interval {
    int64_t steps;                /* updates summed */
    int64_t tokens;               /* their target tokens */
    double loss, nll;             /* sums of each update's per-token value times its tokens */
    double grad_norm;             /* sum of each update's gradient norm */
    double wall_s;                /* their time (only for the rates: tokens/s and the ETA) */
} tg_run_interval;

typedef struct tg_run {
    tg_run_config cfg;
    tg_model_config mcfg;
    tg_bpe *bpe;                  /* NULL for a synthetic task (ids are the text) */
    tg_dataset train, dev;        /* dev: the dev pairs that fit the positions table */
    char **dev_src, **dev_ref;    /* (dev.n) each dev pair's source and reference text */
    tg_batch_iter *iter, *dev_iter;
    tg_batch_iter_state dev_start;   /* the dev iterator's first batch, for each validation */
    tg_model *model;
    tg_adam *adam;
    tg_schedule sched;
    tg_ctx *ctx;
    tg_run_state st;
    tg_run_interval iv;           /* the metrics interval so far */
    bool valid_pending;           /* a stop signal cut the validation of this step short: the
                                     checkpoint says so (section "valid_pending") and a resume runs
                                     it first, as the run never stopped would have */
    tg_batch shard;               /* --accum-shards: the shard being computed (run_shards.c) */
    tg_float *grad_acc;           /* --accum-shards in one process: the shards' gradient sum so far */
    struct tg_overlap *overlap;   /* over MPI: the gradient's buckets, summed during backward */
    int64_t saved_step;           /* the step last.ckpt holds, by this process's last save of it or
                                     the checkpoint resumed (-1: none yet); set by tg_run_train */
    uint64_t saved_file;          /* that last.ckpt's inode number (0: none): a failed save that
                                     replaced it anyway (its folder's sync failed) is told apart */
    bool keep_ahead_said;         /* --keep: the step-N.ckpt beyond the run's step were said */
    char out_shown[TG_PATH_MAX];   /* cfg.out as the progress lines show it, escaped (shown.h),
                                      in no more bytes than --out may hold: set by tg_run_open */
} tg_run;

/* A fresh run's --max-len (files) or --task-max-len (synthetic task) beyond TG_RUN_MAX_PIECES
 * could never train: refused with a message naming the flag. (A resumed run's data is filtered
 * to the limit instead, so an older run still continues.) */
tg_status tg_run_config_check_limits(const tg_run_config *c, tg_err *err);

/* Model config for a run config and vocabulary size. */
tg_status tg_run_model_config(const tg_run_config *c, int vocab, tg_model_config *out, tg_err *err);
tg_status tg_run_schedule(const tg_run_config *c, const tg_model_config *m, tg_schedule *out, tg_err *err);
tg_status tg_run_adam_config(const tg_run_config *c, tg_adam_config *out, tg_err *err);

/* ---- hashes of the data, by content (run_hash.c) ---- */

uint64_t tg_run_hash_mix(uint64_t h, uint64_t x);   /* h and x into one */
uint64_t tg_run_dataset_hash(const tg_dataset *ds);   /* the pairs' pieces and lengths, in order */
uint64_t tg_run_dev_hash(const tg_run *r);   /* the dev pairs and the texts BLEU is scored on */

/* ---- checkpoints (run_ckpt.c) ---- */

/* Writes every section of the run to path (atomically). */
typedef struct tg_ckpt_writer tg_ckpt_writer;
/* Adds every section but the optimiser's: what an averaged (model-only) checkpoint holds. */
tg_status tg_ckpt_write_model(tg_ckpt_writer *w, const tg_run_config *cfg, const tg_model *m,
                              const tg_bpe *bpe, const tg_run_state *st, tg_err *err);
/* A checkpoint of the run at path, in its folder; a new one (step-N.ckpt, best.ckpt) with the bits
 * of the run's last.ckpt (tg_afile_open_like: a run chmod 600'd stays private). */
tg_status tg_run_save(const tg_run *r, const char *path, tg_err *err);
/* --keep-every E: whether step-N.ckpt of step is kept for good (N a multiple of E > 0). */
bool tg_run_kept_for_good(int64_t step, int64_t every);
/* A resume from a run that kept the multiples of E = was (> 0) for good, now with --keep-every now
 * and --keep keep: TG_ERR_ARG when the rotation would remove some of them (keep > 0 and not every
 * multiple of was is one of now). Only the E the checkpoint recorded is known: one changed by an
 * earlier resume with --keep 0 is not. */
tg_status tg_run_keep_every_check(int64_t was, int64_t now, int64_t keep, tg_err *err);
/* The step-N.ckpt files of a run folder that are not the run's snapshots: n with N beyond the run's
 * step (the newest step-<newest>.ckpt), and n_other at or below it whose own state is not step N
 * with optimiser state (an average or a copy put there, a damaged file; the newest
 * step-<other>). */
typedef struct tg_run_ahead {
    size_t n, n_other;
    int64_t newest, other;
} tg_run_ahead;
/* --keep K: removes every step-N.ckpt of dir but the K newest and those kept for good by
 * --keep-every E (never best/last.ckpt). Those that are not the run's (N > step, the run's step;
 * or a file whose state is not step N with optimiser state) are neither counted nor removed, and
 * said in *ahead. */
tg_status tg_run_keep_newest(const char *dir, int64_t keep, int64_t every, int64_t step, tg_run_ahead *ahead,
                             tg_err *err);
/* The steps N of dir's step-N.ckpt files, newest first, in a malloc'd array (*steps, *n). */
tg_status tg_run_list_periodic(const char *dir, int64_t **steps, size_t *n, tg_err *err);
/* dir/step-N.ckpt, the periodic checkpoint of step N. */
void tg_run_periodic_path(const char *dir, int64_t step, char *buf, size_t len);
/* --keep K (or --keep-every E at a multiple of E) on a resume from dir/last.ckpt at step (> 0): a
 * kill between a save's last.ckpt and its step-N.ckpt left that snapshot unwritten, and it would
 * stay missing, the run going on from last.ckpt. When it is missing it is written as a copy of
 * last.ckpt (the bytes the save would have written, atomically); either way the K newest are
 * then kept (a stop after it was written may have left the oldest); *wrote says whether it was,
 * *ahead which step-N.ckpt beyond step were left alone. */
tg_status tg_run_keep_resumed(const char *dir, int64_t step, int64_t keep, int64_t every, bool *wrote,
                              tg_run_ahead *ahead, tg_err *err);

/* The most parameters a checkpoint may describe (16 GB of floats): beyond it a file is refused
 * before anything is allocated. */
#define TG_RUN_MAX_PARAMS ((uint64_t)1 << 32)

/* What translate/eval/ckpt need from a checkpoint: the run config, the model (parameters loaded)
 * and the vocabulary (NULL for a synthetic task). Not the metrics interval, which only a resume
 * needs (tg_run_restore): a bad or newer one does not keep a model from being used. */
typedef struct tg_loaded {
    tg_run_config cfg;
    tg_model *model;
    tg_bpe *bpe;
    tg_run_state st;
    uint64_t param_hash;          /* of the parameter bytes, as ckpt info shows */
    bool valid_pending;           /* the file has section valid_pending (its step's validation to run) */
} tg_loaded;
tg_status tg_run_load_model(const char *path, tg_loaded *out, tg_err *err);
void tg_loaded_free(tg_loaded *l);
/* Removes the temporaries a killed save left in a run folder (NAME.tmp.<pid>.<n> of a checkpoint,
 * config.txt, metrics.tsv, diagnostics.tsv or vocab.txt whose writer is gone), saying so on stderr
 * as `tapegrad COMMAND: removed ...`. For the holder of the folder's lock. (run_setup.c) */
void tg_run_remove_stale_temps(const char *rundir, const char *command);
/* The run config a checkpoint recorded when it was saved, alone (no model is built). */
tg_status tg_run_load_config(const char *path, tg_run_config *cfg, tg_err *err);
/* That the training data r read is the data path's checkpoint was trained on (its iterator's
 * fingerprint, which a resume checks): TG_ERR_STATE when not (the file edited since, or a relative
 * path read from another folder). */
tg_status tg_run_check_data(const char *path, tg_run *r, tg_err *err);
/* The command the progress lines of a run's setup name ("train" unless set: "ckpt diagnose"). */
void tg_run_say_as(const char *command);
/* The checkpoint at path was validated on r's dev set (its section dev; a file without it, an
 * older build's, passes): else TG_ERR_STATE, saying relative paths are read from the current folder. */
tg_status tg_run_check_dev(const char *path, const tg_run *r, tg_err *err);
/* The same for the dev set cfg names, read and encoded with bpe as a run does (run_setup.c): for a
 * model scored outside its run (an experiment's cells). */
tg_status tg_run_check_dev_of(const char *path, const tg_run_config *cfg, tg_bpe *bpe, tg_err *err);
/* The same vocabulary, as saved text byte for byte (both NULL: synthetic-task ids, the same). */
bool tg_run_same_vocab(const tg_bpe *a, const tg_bpe *b);

/* The step a checkpoint's state records, and whether it holds optimiser state (a run's last.ckpt
 * and step-N.ckpt do, an average does not), read from its directory and state alone. */
tg_status tg_run_snapshot_step(const char *path, int64_t *step, bool *resumable, tg_err *err);

/* Restores parameters, optimiser, state and metrics interval of r (built from the same config)
 * from path; a checkpoint written before the interval was saved gives an empty one. */
tg_status tg_run_restore(tg_run *r, const char *path, tg_err *err);

/* ---- text <-> ids for a model (bpe, or ids written as numbers for synthetic tasks) ---- */
/* With no bpe (a synthetic task) the text is the ids, each checked to be under vocab. */
tg_status tg_run_encode(tg_bpe *bpe, int vocab, const char *text, tg_ids *out, tg_err *err);
tg_status tg_run_detok(const tg_bpe *bpe, const int32_t *ids, int n, tg_str *out, tg_err *err);

/* ---- translation of many sentences, in batches sorted by length (translate.c) ---- */
/* Sources ready to decode: each a copy of its pieces with TG_EOS_ID appended, as the encoder
 * saw them in training. Zero-initialise; free with tg_srcs_free. */
typedef struct tg_srcs {
    int32_t **ids;                /* (n) source i is ids[i][0 .. len[i]), the last TG_EOS_ID */
    int *len;                     /* (n) */
    int n, cap;
} tg_srcs;
/* Appends ids[0 .. n) + eos. */
tg_status tg_srcs_add(tg_srcs *s, const int32_t *ids, int n, tg_err *err);
/* Appends the sources of the first n pairs of ds (n <= ds->n). */
tg_status tg_srcs_add_dataset(tg_srcs *s, const tg_dataset *ds, size_t n, tg_err *err);
void tg_srcs_free(tg_srcs *s);
typedef struct tg_translate_opts {
    tg_decode_opts decode;
    int batch;                    /* sentences decoded together */
    const volatile sig_atomic_t *stop;   /* when set (a stop signal), decoding ends before the next
                                            batch with TG_ERR_STATE; NULL: never */
} tg_translate_opts;
/* hyps[i] (malloc'd strings, caller frees) for srcs[i] (already tokenised ids). */
tg_status tg_translate_ids(tg_model *m, tg_ctx *ctx, const tg_bpe *bpe, const int32_t *const *src,
                           const int *src_len, int n, const tg_translate_opts *o, char **hyps,
                           tg_err *err);
/* tg_translate_ids over every source of srcs: hyps[i] for srcs->ids[i]. */
tg_status tg_translate_srcs(tg_model *m, tg_ctx *ctx, const tg_bpe *bpe, const tg_srcs *srcs,
                            const tg_translate_opts *o, char **hyps, tg_err *err);

/* ---- a step's gradient over shards (run_shards.c) ---- */
typedef struct tg_shard_result {
    double loss, nll;             /* per target token of the whole batch */
    bool finite;                  /* every shard's loss finite: the gradient buffer holds the sum */
    int failed_rank;              /* over MPI, the first rank whose step failed before its update, or -1 */
    int failed_ranks;             /* over MPI, how many ranks failed so */
    bool failed_elsewhere;        /* the error returned only tells of other ranks' failures (this one's step
                                   * was sound): rank 0 names them, so this rank need not print it */
    int continued_rank;           /* over MPI, the first rank that took a SIGCONT in the step, or -1 */
} tg_shard_result;
/* TAPEGRAD_FAIL_STEP's error (run_loop.c): out of memory after a step's backward. */
#define TG_RUN_FAIL_STEP_MSG "backward: out of memory (TAPEGRAD_FAIL_STEP)"
/* The gradient of batch b's mean loss, over cfg.accum_shards shards (one process: in turn; MPI:
 * one a rank), summed in shard order into the parameters' gradient buffer; every rank gets the
 * same result. Also advances the dropout stream as every rank does. failed: this step already
 * failed (err set; b is not read but for its token count): over MPI the rank still takes its part,
 * in one process that error is returned. fail_step: fail after the backward (TAPEGRAD_FAIL_STEP).
 * continued (NULL: none): set by a SIGCONT in the step, told to every rank with the step's
 * figures. Over MPI, a rank whose step fails before its update still
 * takes its part in the step's sum and gather, so that every rank returns an error (its own, or
 * naming the ranks that failed: out->failed_rank, failed_ranks, failed_elsewhere; rank 0's names
 * every one of them, after its own cause when it failed too) and none updates or waits for one
 * that left. */
tg_status tg_run_shard_grads(tg_run *r, const tg_batch *b, tg_status failed, bool fail_step,
                             const volatile sig_atomic_t *continued, tg_shard_result *out, tg_err *err);
/* Over MPI (run_overlap.c): starts summing the gradient while the backward from loss runs (loss
 * NULL: this rank computes nothing, its gradient is final now); *on false when the sum must come
 * after backward (tg_dist_sum). Pass tg_run_overlap_hook with r->overlap to tg_backward_hooked;
 * end waits for the sum. early: the share of the gradients final before the last bucket (summed
 * while backward still runs), over the steps so far. */
tg_status tg_run_overlap_begin(tg_run *r, const tg_tensor *loss, bool *on, tg_err *err);
/* Over MPI, before the first step: the buckets' plan, made then so that no step's sum needs memory
 * one rank alone might lack (that rank's sum would differ from the others', which would wait). */
tg_status tg_run_overlap_prepare(tg_run *r, tg_err *err);
/* The gradient sum's bucket size in elements: TAPEGRAD_MPI_BUCKET when set to one, else 2^20 (a
 * value that is not one is warned of on stderr, once a process, naming it). */
int64_t tg_run_overlap_bucket_elems(void);
/* A TAPEGRAD_MPI_BUCKET value: the whole text digits, a number above 0 (no overflow); false if not. */
bool tg_run_bucket_parse(const char *text, int64_t *out);
void tg_run_overlap_hook(void *overlap, int64_t walked);
/* Fault injection: this step's walk announces the buckets final in its first half, then none, as a
 * backward that fails there leaves them; tg_run_overlap_end announces the rest. */
void tg_run_overlap_cut(tg_run *r);
tg_status tg_run_overlap_end(tg_run *r, tg_err *err);
double tg_run_overlap_early(const tg_run *r);
void tg_run_overlap_free(struct tg_overlap *o);

/* Before each step, over MPI (run_agree.c): every rank takes rank 0's run state (its training
 * time and validation bookkeeping decide when to stop), checks that all stand at the same step,
 * and *stop_signal becomes the first rank's signal that is set. failed: this rank's run has
 * failed on its own since the last agreement (a validation, a save or a log line of rank 0's,
 * a reload): every rank then learns it in the same gather, ends together (tg_dist_end_together)
 * and returns an error: the failing rank TG_OK (its own error stands), the others one naming the
 * failing rank, with *told (rank 0 prints it; the others need not). Alone: nothing to do. */
tg_status tg_run_agree(tg_run *r, int *stop_signal, bool failed, bool *told, tg_err *err);
/* After the run's end (its last validation and save, rank 0's), over MPI: the same for a failure
 * there, in one gather a run. */
tg_status tg_run_agree_end(const tg_run *r, bool failed, bool *told, tg_err *err);
/* Before the first step, over MPI (run_agree.c): every rank holds the same settings (but its
 * --threads, --out and input file names), training and dev data, parameters and optimiser state,
 * else TG_ERR_ARG on every rank, naming the first rank and what differs (and the ranks then end
 * together: tg_dist_end_together). Without it, ranks given
 * other flags or files trained on without a word, or waited for ever on one that had stopped. */
tg_status tg_run_agree_start(const tg_run *r, tg_err *err);
/* Over MPI, once each rank has judged its command line and before anything is written or any other
 * collective (run_agree.c): every rank's verdict (rc: 0, -1 when it printed --help, or the exit
 * code of its refusal) and the variables that must be equal on every rank (TAPEGRAD_MPI_BUCKET,
 * TAPEGRAD_MPI_OVERLAP, TAPEGRAD_INJECT_NAN) are gathered, and every rank returns the same verdict:
 * 0 (go on), -1 (end with 0: help), else the exit code. *shown: the rank whose output (its refusal
 * or help) the job shows, the lowest that has one (-1: none). Variables that differ give 1 and
 * msg (rank 0 prints it). A failure of the gather gives 1 and msg on its own (the job is aborted).
 * Ranks on other kernels go on (0), msg a warning that rank 0 prints. news(news_arg, lines) (NULL:
 * none): what the rank printed meanwhile, lines[j] a hash of its line j, the last of the
 * TG_RUN_NEWS_LINES slots one of all its lines from there on, 0 for none; called after the variables
 * are read (a bad TAPEGRAD_KERNELS is warned of then). *own_news: going on (0), bit j set when this
 * rank, not 0, printed as slot j what no lower rank did, which it then shows (a warning of its own,
 * once, without the ones rank 0 printed too). Alone: rc as it is. */
#define TG_RUN_NEWS_LINES 8
int tg_run_agree_args(int rc, void (*news)(void *, uint32_t *), void *news_arg, int *shown, unsigned *own_news,
                      bool *gathered, char *msg, size_t msg_len);

/* ---- a model scored on text pairs (evaluate.c): eval and experiment report ---- */
typedef struct tg_eval_opts {
    tg_translate_opts translate;  /* decoding (beam 1: greedy) */
    int max_tokens;               /* token budget of a loss batch */
    int threads;                  /* 0: TAPEGRAD_THREADS, else the cores */
    bool token_stats;             /* also the teacher-forced token statistics (a second pass) */
    double temperature;           /* theirs: softmax(logits / T); 0 is 1 */
    const char *name;             /* for messages, the pairs' file (NULL: "pair I", from 0) */
    const size_t *line;           /* (n) with name: each pair's 1-based line in it */
} tg_eval_opts;
#define TG_EVAL_NAMED_TOO_LONG 10  /* the pairs left out that a result names */
typedef struct tg_eval_too_long {
    size_t at;                    /* the pair's index in the input */
    size_t src, tgt;              /* its pieces on each side */
} tg_eval_too_long;
typedef struct tg_eval_result {
    size_t n;                     /* pairs scored: those that fit the positions table */
    size_t too_long;              /* pairs left out */
    tg_eval_too_long first_too_long[TG_EVAL_NAMED_TOO_LONG];   /* the first min(too_long, 10) of them */
    int max_pieces;               /* the most pieces a side may have: the model's positions less bos/eos */
    int64_t tokens;               /* target tokens of the loss */
    double loss, nll;             /* per target token; loss label-smoothed as in training */
    tg_token_stats stats;         /* with token_stats: sums over the loss's target tokens */
    tg_bleu_result bleu;          /* corpus BLEU of the translations (13a; ids: whitespace) */
    tg_chrf_result chrf;          /* chrF2 */
    char **hyps;                  /* (n) the translations, in input order */
    size_t *index;                /* (n) each scored pair's index in the input */
} tg_eval_result;
/* Scores m on src[i] -> ref[i] (i < n). */
tg_status tg_eval_texts(tg_model *m, tg_bpe *bpe, const char *const *src, const char *const *ref, size_t n,
                        const tg_eval_opts *o, tg_eval_result *out, tg_err *err);
void tg_eval_result_free(tg_eval_result *r);
/* Loss (label-smoothed as in training) and NLL per target token of m over the batches of one
 * epoch of it, from its current position, without gradients; *tokens the target tokens (0: NaN
 * losses). Validation and tg_eval_texts both score through it. */
tg_status tg_eval_loss_batches(tg_model *m, tg_ctx *ctx, tg_batch_iter *it, double *loss, double *nll,
                               int64_t *tokens, tg_err *err);
/* The BLEU options of a model's outputs: 13a, or (ids: a synthetic task) whitespace words. */
tg_bleu_opts tg_eval_bleu_opts(bool ids);

/* The dev set of a run config as text: the --dev TSV's pairs, or a synthetic task's dev draw
 * (ids as text), the pairs a run of that config validates on. n = 0 when there is no dev set. */
typedef struct tg_dev_text {
    size_t n;
    char **src, **ref;            /* (n) malloc'd */
} tg_dev_text;
tg_status tg_run_dev_text(const tg_run_config *c, tg_dev_text *out, tg_err *err);
void tg_dev_text_free(tg_dev_text *d);

/* ---- folders (folders.c) ---- */
/* Creates path and its missing parents, as `mkdir -p`: 0, or -1 with errno set. */
int tg_mkdir_p(const char *path);
/* TG_OK unless dir names something other than a folder (a file): then "DIR is not a folder",
 * where opening DIR/lock or DIR/last.ckpt said "Not a directory"; or is "" (DIR/last.ckpt would be
 * /last.ckpt). None yet is TG_OK (made). */
tg_status tg_run_folder_usable(const char *dir, tg_err *err);
/* Takes dir/lock (open + flock, exclusive, not waiting) for as long as the descriptor returned
 * stays open: one run at a time writes a folder. The kernel lets go when the process ends, even
 * by SIGKILL, so a killed run resumes. -1 with err: TG_ERR_STATE when another process holds it. */
int tg_run_folder_lock(const char *dir, tg_err *err);
/* An input given by --flag that is a file a run writes in dir (train.log is appended to, the
 * others replaced or cut): the same file, or, when it is not there yet, the same folder and name;
 * TG_ERR_STATE naming both. dir/vocab.txt may be the --vocab. Checked by tg_run_folder_fresh for
 * c's inputs (and by train for --config). */
tg_status tg_run_input_not_output(const char *flag, const char *path, const char *dir, tg_err *err);
/* TG_OK when a fresh run of c may start in dir: it holds no input of c that it writes, no last.ckpt, no file a run writes once
 * past its start (best.ckpt, step-N.ckpt, rows in metrics.tsv, ...), which the fresh run would
 * overwrite, cut or delete, and no config.txt or (when c learns its BPE) vocab.txt of the user's;
 * else TG_ERR_STATE naming the file. */
tg_status tg_run_folder_fresh(const char *dir, const tg_run_config *c, tg_err *err);
/* Whether dir holds a file a run writes once past its start (best.ckpt, step-N.ckpt, rows in
 * metrics.tsv, ...): 1 (its path in path), 0, or -1 when dir cannot be read (errno). */
int tg_run_folder_started(const char *dir, char *path, size_t cap);
/* Writes the vocabulary as text to path through atomic_file.h (temporary + rename). */
tg_status tg_run_vocab_save(const tg_bpe *bpe, const char *path, tg_err *err);

/* ---- the loop (run_loop.c) ---- */
/* Builds data, vocabulary, model, optimiser and context for cfg. from: a loaded last.ckpt to
 * resume (its vocabulary and model are taken over, then optimiser and state restored), or NULL
 * for a fresh run. Progress (vocabulary learning, data counts) is logged to stderr. */
tg_status tg_run_open(tg_run *r, const tg_run_config *cfg, tg_loaded *from, tg_err *err);
/* As tg_run_open with from, but nothing restored (fresh state and optimiser): from's model and
 * vocabulary on cfg's data, for reading a model (ckpt diagnose), not training it. */
tg_status tg_run_open_model(tg_run *r, const tg_run_config *cfg, tg_loaded *from, tg_err *err);
void tg_run_close(tg_run *r);
/* Trains until a limit, a signal, early stopping or an error. Returns the process exit code. */
int tg_run_train(tg_run *r);

#endif /* TG_RUN_H */

/* experiment.h: `tapegrad experiment`: a base training recipe crossed with axes (train flags and
 * their values) and seeds. Every cell is an ordinary `tapegrad train` run folder
 * DIR/cells/KEY=V,...,seed=S/, trained by the train command's own code in a forked child, one
 * cell after the other. Private to train/.
 *
 *   tg_experiment e;  tg_exp_init(&e);
 *   tg_exp_add_base(&e, "task", "copy");  tg_exp_add_vary(&e, "norm=post,pre", &err);
 *   tg_exp_add_seeds(&e, "2", false, &err);  snprintf(e.dir, sizeof e.dir, "runs/x");
 *   tg_exp_validate(&e, &err);  int lock = tg_exp_lock(&e);
 *   tg_exp_record(&e, true, false, &err);  tg_exp_run(&e, tg_cmd_train, 1);  close(lock);
 */
#ifndef TG_EXPERIMENT_H
#define TG_EXPERIMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "datasets/shown.h"
#include "train/run/options.h"
#include "train/run/run.h"

#define TG_EXP_MAX_AXES 8
#define TG_EXP_MAX_JOBS 64   /* cells trained at a time (--jobs) */
#define TG_EXP_NAME_MAX 512

typedef struct tg_exp_axis {
    char key[64];        /* the train flag's name, canonical spelling */
    char flag[68];       /* "--" key */
    int n;
    char **values;       /* (n) as given; for the variant axis, the variants' names */
    /* The variant axis (key "variant", from --variant NAME:K=V;K=V): value v sets the train flags
     * bundle_flag[v][0..n_set[v]-1] ("--K") to bundle_value[v][...] (NULL: a flag without a
     * value). NULL for an ordinary axis. */
    int *n_set;
    char ***bundle_name, ***bundle_flag, ***bundle_value;
} tg_exp_axis;

typedef struct tg_experiment {
    char dir[TG_PATH_MAX];
    char config[TG_PATH_MAX];        /* --config FILE of the base recipe, or "" */
    int n_base;
    char **base_name, **base_flag;   /* (n_base) train flags' names, and "--" name */
    char **base_value;               /* (n_base) value; NULL for a flag that takes none */
    int n_axes;
    tg_exp_axis axes[TG_EXP_MAX_AXES];
    int n_seeds;
    uint64_t *seeds;                 /* (n_seeds) */
    int argc;
    char **argv;                     /* the command as given (after "experiment"), for the record */
    /* read from DIR/experiment.txt (--resume DIR, report DIR): a recipe an earlier build accepted
     * and trained, so what a new experiment is refused for since (tg_exp_validate) is let be, and
     * it carries on as train --resume does */
    bool recorded;
} tg_experiment;

/* One cell: the index of each axis's value, and the seed. Cells are ordered seed first, then
 * the axes (the first axis slowest), so every variant of seed 1 is trained before seed 2. */
typedef struct tg_exp_cell {
    int index;
    int value[TG_EXP_MAX_AXES];
    uint64_t seed;
    char variant[TG_EXP_NAME_MAX];        /* "KEY=V,..." (the same for every seed) */
    char name[TG_EXP_NAME_MAX + 32];      /* "KEY=V,...,seed=S" */
    char dir[TG_PATH_MAX + TG_EXP_NAME_MAX + 64];   /* DIR/cells/name */
} tg_exp_cell;

typedef enum { TG_EXP_NEW, TG_EXP_PARTIAL, TG_EXP_DONE } tg_exp_cell_state;

typedef struct tg_exp_status {
    tg_exp_cell_state state;
    int64_t step;            /* updates done (0 when new) */
    double train_seconds;    /* from the checkpoint */
} tg_exp_status;

/* ---- the grid (cells.c) ---- */
void tg_exp_init(tg_experiment *e);
void tg_exp_free(tg_experiment *e);
/* A train flag of the base recipe (value NULL for a flag that takes none). */
tg_status tg_exp_add_base(tg_experiment *e, const char *name, const char *value, tg_err *err);
/* "KEY=V1,V2[,...]": KEY a train flag (not out or seed), at least one value (repeats are refused
 * by tg_exp_validate: tg_exp_same_value). */
tg_status tg_exp_add_vary(tg_experiment *e, const char *spec, tg_err *err);
/* "NAME" or "NAME:KEY=V[;KEY=V...]" (KEY a train flag, V omitted for a flag without a value):
 * one value of the variant axis, a named bundle of settings, so that variants that differ in
 * more than one flag (relu at the heads = attn-activation relu + attn-activation-at heads) are
 * one axis. The variant axis comes after the --vary axes. */
tg_status tg_exp_add_variant(tg_experiment *e, const char *spec, tg_err *err);
/* Whether values a and b of train flag key are one setting: train reads them alike (0, 0.0 and
 * -0; 90s and 1m30s; true and 1). */
bool tg_exp_same_value(const char *key, const char *a, const char *b);
/* "N" (seeds 1..N) or, with list, "1,2,7". */
tg_status tg_exp_add_seeds(tg_experiment *e, const char *spec, bool list, tg_err *err);
int tg_exp_cell_count(const tg_experiment *e);
int tg_exp_variant_count(const tg_experiment *e);
void tg_exp_cell_get(const tg_experiment *e, int index, tg_exp_cell *out);
/* e->dir as a message shows it, control bytes escaped (\x1B), in a buffer the next call reuses. */
const char *tg_exp_dir_shown(const tg_experiment *e);
/* A cell's name before a wrapped reason ("cell NAME: REASON"), escaped and, when long (a --vary of
 * paths), shown as "..." and its end in 100 bytes: in tg_err's 512 a name of 220 bytes cut the
 * reason's end off. For a printf "%s" argument. */
#define TG_EXP_CELL_SHOWN(name) TG_SHOWN_IN(100, name)
/* The cell's full run config, as `tapegrad train` with the cell's argv would build it. */
tg_status tg_exp_cell_config(const tg_experiment *e, const tg_exp_cell *c, tg_run_config *out, tg_err *err);
/* argv (NULL-terminated, strings owned by e and c) of `train` for the cell: a fresh run, or
 * `train --resume CELLDIR --max-steps N` (the experiment's budget, which a resume may have
 * extended). argv must hold tg_exp_argv_max(e) entries; the seed's and budget's texts are static
 * (one argv at a time). */
int tg_exp_argv_max(const tg_experiment *e);
int tg_exp_cell_argv(const tg_experiment *e, const tg_exp_cell *c, bool resume, char **argv);
/* The fresh cell's argv for a run without its dev set: the flags that would then do nothing
 * (--valid-every, --beam, --patience ... of a run on text) left out, as train would refuse them
 * (the dry run times a cell's steps so, with --dev "" added). */
int tg_exp_cell_argv_without_dev(const tg_experiment *e, const tg_exp_cell *c, char **argv);
/* Every cell's config is checked before anything is trained (a step budget, values train takes);
 * a new experiment's (not e->recorded) also for flags that would do nothing. */
tg_status tg_exp_validate(const tg_experiment *e, tg_err *err);
/* Says on f each setting of the --config file that every cell sets for itself, at other than its
 * default: `seed` (the cell's seed) and `out` (DIR/cells/NAME), naming the file's line. A run's
 * own config.txt names both and serves as a config, so they are taken, not refused. */
void tg_exp_note_config_per_cell(const tg_experiment *e, FILE *f);
/* Before anything is written (the folder, its record): the input files of every cell not yet at
 * its budget open for reading (a typo in --train used to record the experiment, fail its first
 * cell, and then refuse the corrected command as another experiment). A FIFO is only asked
 * whether it may be read: opening it would cost its writer what it wrote. TG_ERR_IO naming the
 * cell, the flag and the file. */
tg_status tg_exp_check_inputs(const tg_experiment *e, tg_err *err);
/* Where a cell stands, read from its last.ckpt (not from an exit code: train exits 0 on SIGINT),
 * which must have been trained with the cell's config (tg_exp_trained_as): not another cell's
 * checkpoint copied or linked in, nor a cell of a record edited since. */
tg_status tg_exp_cell_status(const tg_experiment *e, const tg_exp_cell *c, tg_exp_status *out, tg_err *err);

/* ---- the record DIR/experiment.txt (record.c) ---- */
/* The recipe as the record holds it (the axes, each variant's bundle, the seeds, the base run
 * config as this build formats it); malloc'd. Two commands are the same experiment when their
 * recipes are the same text. */
tg_status tg_exp_recipe(const tg_experiment *e, char **out, tg_err *err);
/* The recipe now (its --config file read again) is was, the recipe when the experiment started;
 * else TG_ERR_ARG naming the file and the first line that differs: a cell about to start would
 * train another recipe, and be refused only after its training. */
tg_status tg_exp_recipe_unchanged(const tg_experiment *e, const char *was, tg_err *err);
/* Checks that DIR/experiment.txt, if there, holds the same recipe (TG_ERR_ARG naming the first
 * line that differs otherwise): the same settings but those one build has and the other not (a
 * setting added since, at its default), so a record of another build is read, and one whose arg:
 * lines were edited (e->recorded) is not taken for its [recipe]. If there is none and write,
 * creates DIR and writes it. replace (an extended budget, after tg_exp_extend_check): the recipes
 * compared without the budget, e's record written over the old one if write. */
tg_status tg_exp_record(const tg_experiment *e, bool write, bool replace, tg_err *err);
/* TG_ERR_ARG naming the first argument that experiment.txt could not give back (one holding a
 * line break, or ending in a carriage return); tg_exp_validate and tg_exp_record check it. */
tg_status tg_exp_args_recordable(const tg_experiment *e, tg_err *err);
/* A cell's checkpoint config ckpt is its config want in the experiment, but for what a resume may
 * change (folder, threads, budget) and settings the run never reads; TG_ERR_ARG naming the first
 * setting that differs otherwise (the message without the cell's name). */
tg_status tg_exp_trained_as(const tg_run_config *want, const tg_run_config *ckpt, tg_err *err);
/* e is old (the recorded experiment) with a larger --max-steps and nothing else changed, and the
 * cells' schedule does not depend on the budget (not cosine): so each cell resumed to the new
 * budget is, by exact resume, the cell a fresh experiment with that budget would train. */
tg_status tg_exp_extend_check(const tg_experiment *old, const tg_experiment *e, tg_err *err);
/* The command recorded in DIR/experiment.txt (argv after "experiment", malloc'd; free with
 * tg_exp_argv_free). */
tg_status tg_exp_record_argv(const char *dir, int *argc, char ***argv, tg_err *err);
void tg_exp_argv_free(int argc, char **argv);
/* `tapegrad experiment ARGS`, each argument quoted for a POSIX shell when it needs it. */
void tg_exp_command_line(const tg_experiment *e, char *out, size_t len);

/* ---- running the cells (runner.c) ---- */
typedef int (*tg_exp_train_fn)(int argc, char **argv);
/* Creates DIR and takes DIR/lock (flock), held by this process and, inherited, by its running
 * cells: a second experiment on DIR is refused while either lives. Taken before DIR/experiment.txt
 * is checked or written, so two experiments started at once cannot leave the record of one and
 * the cells of the other. Returns the descriptor to close, or -1 (the message printed). */
int tg_exp_lock(const tg_experiment *e);
/* With tg_exp_lock held: trains every cell that is not done, in order, each in a forked child
 * running train(argv), up to jobs (1..TG_EXP_MAX_JOBS) at a time; the stop signals (TG_STOP_SIGNALS:
 * SIGINT, SIGTERM, SIGPIPE of a reader gone, ...) are forwarded to the children and stop the
 * experiment after they saved, from its first line to its last (between cells too; after a
 * SIGPIPE, SIGPIPE stays ignored). A line per cell start and finish on
 * stderr; with jobs > 1 the cells' own lines come through a pipe each, marked "[cell name] ".
 * A failed cell stops the experiment (with jobs > 1: the other running cells get SIGTERM, save and
 * stop). A cell's result does not depend on jobs. Returns the exit code: 0 all done, 1 a cell
 * failed or was interrupted, 2 a bad jobs. */
int tg_exp_run(const tg_experiment *e, tg_exp_train_fn train, int jobs);
/* Runs train(argv) in a forked child (its own process group, killed if this process dies) and
 * waits, forwarding SIGINT/SIGTERM. quiet: the child's stdout/stderr go to /dev/null. Returns
 * the exit code, or 128 + signal, or -1 when the child could not be made (said; TAPEGRAD_FAIL_FORK=N
 * fails the N-th fork, for the tests); *signalled the signal this process received (0: none). */
int tg_exp_fork_train(tg_exp_train_fn train, char **argv, bool quiet, int *signalled);

/* ---- --dry-run (estimate.c) ---- */
/* Lists the cells and their state, and the time left: 3 training steps of each variant are
 * timed in a scratch folder (nothing is written under DIR). Returns the exit code. */
int tg_exp_dry_run(const tg_experiment *e, tg_exp_train_fn train);

#endif /* TG_EXPERIMENT_H */

/* options.h: every setting of a training run, described once in a table (options.c) that gives
 * the flag name, the type, the default and the help line. The same table parses command-line
 * flags (getopt_long), `--config FILE` lines (`key = value`, keys are the flag names), prints
 * --help, and writes/reads the run's settings in a checkpoint, so a flag added here is everywhere.
 */
#ifndef TG_OPTIONS_H
#define TG_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "autograd/status.h"

#define TG_PATH_MAX 1024
/* --fit-steps: the fit is made at step min(warmup, TG_FIT_AT), from the speed of the steps after
 * the first fifth of those; a warmup below TG_FIT_MIN_WARMUP steps is refused. The whole warmup
 * is timed (up to TG_FIT_AT steps): a main job's fit at step 200 took 0.286 s a step from steps
 * 41-200, where steps 101-500 took 0.266 s and the whole run 0.267 s. */
#define TG_FIT_AT 1000
#define TG_FIT_MIN_WARMUP 10

typedef struct tg_run_config {
    /* data */
    char train[TG_PATH_MAX], train_src[TG_PATH_MAX], train_tgt[TG_PATH_MAX];
    char dev[TG_PATH_MAX], out[TG_PATH_MAX], vocab[TG_PATH_MAX];
    char task[16];               /* "" | copy | reverse | sort */
    int merges;                  /* BPE merges learned when no --vocab is given */
    int max_len;                 /* pieces a side; longer pairs are filtered out */
    char on_bad_line[8];         /* error | skip */
    int task_vocab, task_min_len, task_max_len, task_size;
    /* model */
    int d_model, heads, d_ff, enc_layers, dec_layers;
    double dropout, label_smoothing;
    char norm[8], ffn_activation[8], attn_activation[8], attn_activation_at[8];
    char attn_gate[8], residual_activation[8];
    bool no_tie_embeddings;
    /* optimiser and schedule */
    char optimizer[8], schedule[16];
    double lr, min_lr, init_lr, beta1, beta2, adam_eps, weight_decay, clip_norm;
    int warmup;
    bool fit_steps;              /* cosine: --max-steps fitted to --time-limit at step min(warmup, TG_FIT_AT) */
    /* the loop */
    int64_t max_steps;
    int max_epochs;
    double time_limit;           /* seconds; 0: none */
    int max_tokens, threads;
    int accum_shards;            /* shards a batch is split into (0: the MPI ranks, else 1) */
    uint64_t seed;
    int log_every, valid_every, save_every, keep, keep_every, patience;
    int valid_sentences;         /* dev sentences decoded for BLEU (0: all) */
    int beam;
    double alpha;
    int max_bad_steps;           /* NaN/Inf updates in a row before reloading the last checkpoint */
    int diagnostics;             /* every N steps to diagnostics.tsv (0: off) */
} tg_run_config;

/* What a setting is about: only TG_OPT_LOOP settings may change when a run is resumed. */
typedef enum { TG_OPT_DATA, TG_OPT_MODEL, TG_OPT_OPTIM, TG_OPT_LOOP } tg_opt_group;
/* Every group, for tg_run_config_first_diff over all settings. */
#define TG_OPT_ALL_GROUPS (1u << TG_OPT_DATA | 1u << TG_OPT_MODEL | 1u << TG_OPT_OPTIM | 1u << TG_OPT_LOOP)

void tg_run_config_default(tg_run_config *c);

/* Sets one setting by its flag name (without "--"; '_' and '-' are the same) from text.
 * TG_ERR_ARG with a message for an unknown name or a bad value. */
tg_status tg_run_config_set(tg_run_config *c, const char *name, const char *value, tg_err *err);

/* Reads `key = value` lines (# comments, blank lines); errors name the file and line. A value in
 * double quotes is taken literally but for the escapes \\ \" \n \r (so a path may hold '#', '=',
 * quotes, spaces at its ends, a trailing backslash); an unquoted value ends at '#' and is trimmed,
 * as older files were written. A UTF-8 byte order mark at the start is skipped. */
tg_status tg_run_config_load(tg_run_config *c, const char *path, tg_err *err);
/* The line of a config file each setting was on (0: not in it), in the order of the settings. */
#define TG_RUN_CONFIG_MAX_SETTINGS 96
typedef struct { int at[TG_RUN_CONFIG_MAX_SETTINGS]; } tg_run_config_lines;
/* The line of setting name in lines (0: not in the file, or no such setting). */
int tg_run_config_line_of(const tg_run_config_lines *lines, const char *name);
/* tg_run_config_load, with the line of each setting in *lines (NULL: not kept). */
tg_status tg_run_config_load_lines(tg_run_config *c, const char *path, tg_run_config_lines *lines, tg_err *err);
/* The same from f, opened by the caller (tg_afile_fopen_regular: no link, FIFO or device), which
 * it closes; path names it in messages. */
tg_status tg_run_config_read(tg_run_config *c, FILE *f, const char *path, tg_err *err);

/* Checks the whole config (ranges, enums, that some training data is named). */
tg_status tg_run_config_check(const tg_run_config *c, tg_err *err);

/* A flag the user gave by name (train's command line, an experiment's base flags and axes) that
 * the run configured as c would not use: --merges with --task or --vocab (the vocabulary is not
 * learned); --patience, --valid-every, --valid-sentences, --beam or --alpha without a dev set (a
 * text run without --dev never validates; a task makes its own dev set); --task-vocab,
 * --task-min-len, --task-max-len or --task-size without --task; --max-len or --on-bad-line with
 * --task (it reads no corpus). TG_ERR_ARG, naming it and what to do. Only for flags given: a
 * default is never refused. */
tg_status tg_run_config_check_given(const tg_run_config *c, const char *name, tg_err *err);

/* tg_run_config_check_given for each setting a config file set (lines, from path) to other than its
 * default, checked once flags have set the rest of c: a run's own config.txt, which names every
 * setting, is taken as a --config. TG_ERR_ARG naming the file and line. */
tg_status tg_run_config_check_lines(const tg_run_config *c, const tg_run_config_lines *lines, const char *path,
                                    tg_err *err);

/* --alpha given (a flag, a --config line) with --beam 1: refused, as a flag that would do nothing
 * (greedy decoding, nn/decode.c, scores no hypotheses by length); train's validation
 * (tg_run_config_check_given), translate and eval alike. */
tg_status tg_run_alpha_check(int beam, bool alpha_given, tg_err *err);

/* Puts every setting that tg_run_config_check_given would refuse in c at its default: how a run
 * that an older build recorded with such a flag compares with one started now without it. */
void tg_run_config_unused_to_defaults(tg_run_config *c);

/* Writes every setting as `key = value` lines (the config file format, and the checkpoint's
 * config section); a string that would not read back unquoted is written in double quotes.
 * Returns the bytes written (excluding NUL), as snprintf. */
int tg_run_config_format(const tg_run_config *c, char *buf, size_t len);

/* The first setting of a group in groups (bits 1u << tg_opt_group) whose value differs between a
 * and b, as each writes it ("dropout = 0.29999999999999999") in a_text and b_text; false when none
 * does. Aliases (--layers) are compared through the settings they set. */
bool tg_run_config_first_diff(const tg_run_config *a, const tg_run_config *b, unsigned groups, char *a_text,
                              char *b_text, size_t len);

/* A line `key = value` of the settings text with a number value written as its shortest form that
 * reads back as the same double: config.txt's %.17g is exact, but "dropout = 0.10000000000000001"
 * in a message reads as a value the user never gave. Other lines are left as they are. */
void tg_run_config_shorten(char *line, size_t len);

/* The first piece (the text up to sep: '\n' for settings text, ' ' for a model's "key=value"
 * words) where the texts a and b differ, as a message shows it (tg_run_config_shorten) in a_out
 * and b_out (b_out NULL: a's alone), each of len bytes, cut to fit; a text that ended gives "".
 * False, and "" in both, when every piece is the same. One walk for every such message (a
 * resume's flag, an edited --config file, a snapshot of another model). */
bool tg_run_config_first_difference(const char *a, const char *b, char sep, char *a_out, char *b_out, size_t len);

/* A settings line "key = value" as a message shows it, escaped in out (cap bytes): its key whole,
 * and the value as its tail in what is left (the key says which setting differs, a path's end
 * which file); a line without " = ", or with a key longer than half of cap (a file edited by
 * hand), is shown as its tail. TG_RUN_LINE_SHOWN: the same in a buffer of the expression's own
 * (cap a constant), for a printf "%s". */
const char *tg_run_config_line_shown(char *out, size_t cap, const char *line);
#define TG_RUN_LINE_SHOWN(cap, line) tg_run_config_line_shown((char[cap]){0}, cap, (line))

/* Parses text in the format above (from a checkpoint). */
tg_status tg_run_config_parse(tg_run_config *c, const char *text, const char *origin, tg_err *err);
/* The same, with the line of each setting in *lines (NULL: not kept). */
tg_status tg_run_config_parse_lines(tg_run_config *c, const char *text, const char *origin, tg_run_config_lines *lines,
                                    tg_err *err);

/* The group of a flag name, or -1 if there is no such flag. */
int tg_run_config_group(const char *name);

/* Prints the flags of the given groups (bit i = group i) with their defaults, for --help. */
void tg_run_config_help(FILE *f, unsigned groups);

/* getopt_long option array for every setting (each with an argument, flags without), with
 * `extra` options appended; returns a static array terminated by a zero entry. val of a setting
 * is 1000 + its index; tg_run_config_name(val) maps back. */
struct option;
const struct option *tg_run_config_getopt(const struct option *extra, int n_extra);
const char *tg_run_config_name(int val);

/* "30m", "1h30m", "90s", "2h", "45" (seconds) -> seconds. */
tg_status tg_parse_duration(const char *s, double *seconds, tg_err *err);

#endif /* TG_OPTIONS_H */

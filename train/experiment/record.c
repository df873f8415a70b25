/* record.c: DIR/experiment.txt, the record of an experiment's recipe. It holds the command (one
 * `arg:` line per argument, so `experiment --resume DIR` can run it again) and, after a
 * `[recipe]` line, the recipe in a canonical form: every setting of the base recipe (the config
 * file's and the flags' effect, so a changed config file is noticed too), the axes and the seeds.
 * A second run on DIR must produce the same recipe text. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "train/experiment/experiment.h"
#include "train/experiment/report.h"
#include "train/run/text_out.h"

#define RECIPE_MARK "[recipe]\n"

/* The canonical recipe. --threads is left out: results do not depend on it. */
tg_status tg_exp_recipe(const tg_experiment *e, char **out, tg_err *err) {
    tg_run_config cfg;
    tg_status s = tg_exp_cell_config(e, NULL, &cfg, err);
    if (s != TG_OK) return s;
    cfg.seed = 0;
    cfg.threads = 0;
    int n = tg_run_config_format(&cfg, NULL, 0);
    size_t cap = (size_t)n + 4096;
    for (int a = 0; a < e->n_axes; a++)
        for (int v = 0; v < e->axes[a].n; v++) {
            cap += strlen(e->axes[a].values[v]) + 80;
            for (int i = 0; e->axes[a].n_set && i < e->axes[a].n_set[v]; i++)
                cap += strlen(e->axes[a].bundle_flag[v][i]) + 8 +
                       (e->axes[a].bundle_value[v][i] ? strlen(e->axes[a].bundle_value[v][i]) : 0);
        }
    cap += (size_t)e->n_seeds * 24;
    char *t = malloc(cap);
    if (!t) return tg_err_set(err, TG_ERR_NOMEM, "out of memory");
    size_t k = 0;
    for (int a = 0; a < e->n_axes; a++) {
        k += (size_t)snprintf(t + k, cap - k, "vary %s =", e->axes[a].key);
        for (int v = 0; v < e->axes[a].n; v++)
            k += (size_t)snprintf(t + k, cap - k, "%s%s", v ? "," : " ", e->axes[a].values[v]);
        k += (size_t)snprintf(t + k, cap - k, "\n");
        for (int v = 0; e->axes[a].n_set && v < e->axes[a].n; v++) {   /* a variant's bundle of flags */
            k += (size_t)snprintf(t + k, cap - k, "variant %s =", e->axes[a].values[v]);
            for (int i = 0; i < e->axes[a].n_set[v]; i++)
                k += (size_t)snprintf(t + k, cap - k, " %s%s%s", e->axes[a].bundle_flag[v][i],
                                      e->axes[a].bundle_value[v][i] ? " " : "",
                                      e->axes[a].bundle_value[v][i] ? e->axes[a].bundle_value[v][i] : "");
            k += (size_t)snprintf(t + k, cap - k, "\n");
        }
    }
    k += (size_t)snprintf(t + k, cap - k, "seeds =");
    for (int i = 0; i < e->n_seeds; i++)
        k += (size_t)snprintf(t + k, cap - k, "%s%llu", i ? "," : " ", (unsigned long long)e->seeds[i]);
    k += (size_t)snprintf(t + k, cap - k, "\n");
    k += (size_t)tg_run_config_format(&cfg, t + k, cap - k);
    *out = t;
    (void)k;
    return TG_OK;
}

tg_status tg_exp_recipe_unchanged(const tg_experiment *e, const char *was, tg_err *err) {
    char *now = NULL;
    tg_status s = tg_exp_recipe(e, &now, err);
    if (s == TG_OK && strcmp(now, was)) {
        char here[TG_PATH_MAX + 64], there[TG_PATH_MAX + 64];   /* a line whole: a name */
        tg_run_config_first_difference(now, was, '\n', here, there, sizeof here);
        s = tg_err_set(err, TG_ERR_ARG, "--config %s was edited since the experiment started: it now gives '%s', where "
                       "the recipe has '%s' (the cells to come would train another recipe); put the file back and "
                       "run the same command again (the cells done are kept)", TG_SHOWN(e->config),
                       TG_RUN_LINE_SHOWN(68, here), TG_RUN_LINE_SHOWN(68, there));
    }
    free(now);
    return s;
}

#define RECORD_MAX (64 << 20)

/* DIR/experiment.txt whole (malloc'd) in *out; *missing when there is none (an error then too). */
static tg_status read_record(const char *path, char **out, bool *missing, tg_err *err) {
    *out = NULL;
    tg_exp_in in;
    tg_status s = tg_exp_in_open(&in, path, missing, err);
    size_t cap = 8192, len = 0, got;
    char *buf = s == TG_OK ? malloc(cap) : NULL;
    if (s == TG_OK && !buf) s = tg_err_set(err, TG_ERR_NOMEM, "%s: out of memory", TG_SHOWN(path));
    while (s == TG_OK && (got = fread(buf + len, 1, cap - len - 1, in.f)) > 0) {
        len += got;
        if (len + 1 < cap) continue;
        char *nb = cap < RECORD_MAX ? realloc(buf, 2 * cap) : NULL;
        if (nb) { buf = nb; cap *= 2; continue; }
        if (cap < RECORD_MAX)
            s = tg_err_set(err, TG_ERR_NOMEM, "%s: out of memory", TG_SHOWN(path));
        else s = tg_err_set(err, TG_ERR_FORMAT, "%s: larger than %d MiB: not an experiment record",
                            TG_SHOWN(path), RECORD_MAX >> 20);
    }
    if (s == TG_OK && ferror(in.f))
        s = tg_err_set(err, TG_ERR_IO, "%s: read error", TG_SHOWN(path));
    /* read as a string: a NUL would end it there, silently dropping the arguments after it */
    const char *nul = s == TG_OK ? memchr(buf, '\0', len) : NULL;
    if (nul) {
        long line = 1;
        for (const char *p = buf; p < nul; p++) line += *p == '\n';
        s = tg_err_set(err, TG_ERR_FORMAT, "%s:%ld: a NUL byte: not a record tapegrad wrote",
                       TG_SHOWN(path), line);
    }
    tg_exp_in_close(&in);
    if (s != TG_OK) { free(buf); return s; }
    buf[len] = '\0';
    *out = buf;
    return TG_OK;
}

static tg_status write_record(const tg_experiment *e, const char *path, const char *recipe, tg_err *err) {
    tg_exp_out o;
    FILE *f = tg_exp_out_open(&o, path, err);
    if (!f) return TG_ERR_NOMEM;
    char cmd[16384];
    tg_exp_command_line(e, cmd, sizeof cmd);
    fprintf(f, "# tapegrad experiment: the recipe of this folder's cells. The same command (or\n"
               "# `tapegrad experiment --resume DIR`) skips finished cells and resumes an interrupted one;\n"
               "# another recipe is refused.\ncommand: %s\n", cmd);
    for (int i = 0; i < e->argc; i++) fprintf(f, "arg: %s\n", e->argv[i]);
    fputs(RECIPE_MARK, f);
    fputs(recipe, f);
    return tg_exp_out_commit(&o, err);
}

/* recipe without its budget line, "max-steps = N" (in place). */
static void drop_budget(char *recipe) {
    static const char key[] = "max-steps = ";
    for (char *p = recipe; *p;) {
        char *nl = strchr(p, '\n'), *next = nl ? nl + 1 : p + strlen(p);
        if (!strncmp(p, key, sizeof key - 1)) {
            memmove(p, next, strlen(next) + 1);
            return;
        }
        p = next;
    }
}

/* One cell's config (of old) that an extended budget would not continue exactly: a schedule that
 * decays over the budget, or a validation at the end of the budget off the --valid-every grid (a
 * run validates when it ends; a fresh run with a larger budget does not validate there, and that
 * validation counts for best.ckpt and --patience). */
static tg_status extend_cell_check(const tg_run_config *was, const char *cell, tg_err *err) {
    if (!strcmp(was->schedule, "cosine") || was->fit_steps)
        return tg_err_set(err, TG_ERR_ARG, "--resume DIR --max-steps: the cells' schedule (cosine%s%s) decays over "
                          "their budget, so longer cells are another recipe, not a continuation: give a new --out",
                          cell ? ", in " : "", cell ? cell : "");
    bool validates = was->task[0] || was->dev[0];
    if (validates && (was->valid_every <= 0 || was->max_steps % was->valid_every != 0))
        return tg_err_set(err, TG_ERR_ARG, "--resume DIR --max-steps: the cells validated at the end of their budget, "
                          "step %lld, %s%d%s%s: a fresh run with a larger budget does not validate there, and that "
                          "validation counts for best.ckpt and --patience, so longer cells are not a continuation: "
                          "give a new --out", (long long)was->max_steps, was->valid_every > 0 ? "which is not a "
                          "multiple of --valid-every " : "and only there (--valid-every ", was->valid_every,
                          was->valid_every > 0 ? (cell ? ", in " : "") : (cell ? "), in " : ")"), cell ? cell : "");
    return TG_OK;
}

/* The config a run's checkpoint holds, as text to compare: what its model and its scores come
 * from. Left out: the budget (compared as steps), the threads and the bookkeeping a resume by hand
 * may change without changing either (logging, saving, keeping checkpoints, diagnostics: not
 * patience, validation or decoding, which choose best.ckpt or the end); the folder; dev and vocab
 * of a task run (which older builds recorded and never read); the settings the run never reads
 * (that train refuses given: --merges of a task run, --beam of a run without a dev set) at their
 * defaults, as a recorded experiment's cell trained now has them (cell_argv leaves them out) and
 * one trained by an earlier build not. */
static void config_text(tg_run_config *c, const tg_run_config *d, char *buf, size_t len) {
    tg_run_config_unused_to_defaults(c);
    c->max_steps = 0;
    c->threads = 0;
    c->log_every = d->log_every;
    c->save_every = d->save_every;
    c->keep = d->keep;
    c->keep_every = d->keep_every;
    c->diagnostics = d->diagnostics;
    c->out[0] = '\0';
    if (c->task[0]) c->dev[0] = c->vocab[0] = '\0';
    tg_run_config_format(c, buf, len);
}

tg_status tg_exp_trained_as(const tg_run_config *want, const tg_run_config *ckpt, tg_err *err) {
    static char a[64 * 1024], b[64 * 1024];
    /* the two compared and the defaults, 19 KiB: on the heap (a cell's train runs below this) */
    tg_run_config *c = malloc(3 * sizeof *c);
    if (!c) return tg_err_set(err, TG_ERR_NOMEM, "out of memory");
    c[0] = *want;
    c[1] = *ckpt;
    tg_run_config_default(&c[2]);
    if (!want->accum_shards) c[1].accum_shards = 0;   /* 0: train takes its ranks (1 without MPI) */
    config_text(&c[0], &c[2], a, sizeof a);
    config_text(&c[1], &c[2], b, sizeof b);
    free(c);
    if (!strcmp(a, b)) return TG_OK;
    /* a line whole, shown as its key and its value's tail, escaped (in 256 bytes each, two lines of
     * long paths lost the message's end and their differing tails, and a tab reached stderr raw) */
    static char here[TG_PATH_MAX + 64], there[TG_PATH_MAX + 64];
    tg_run_config_first_difference(a, b, '\n', here, there, sizeof here);
    return tg_err_set(err, TG_ERR_ARG, "its last.ckpt was not trained with the recorded recipe (the cell's '%s', its "
                      "last.ckpt's '%s'): another cell's checkpoint or folder put in its place, the cell resumed "
                      "by hand with other settings, or the record edited; remove the cell's folder to train it "
                      "again", TG_RUN_LINE_SHOWN(60, here), TG_RUN_LINE_SHOWN(60, there));
}

/* The cell c, if it has a last.ckpt, was trained with its recipe in old: an extension resumes it
 * from its checkpoint, which holds its own recipe, and rewrites the record; a record that does not
 * say how the cells were trained would then claim a recipe the longer cells were not trained with. */
static tg_status cell_trained_so(const tg_experiment *old, const tg_exp_cell *c, tg_err *err) {
    tg_exp_status st;
    tg_err inner;
    if (tg_exp_cell_status(old, c, &st, &inner) == TG_OK) return TG_OK;
    return tg_err_set(err, TG_ERR_ARG, "--resume DIR --max-steps: cell %s: %s: its longer run would not be the "
                      "recorded experiment's", c->name, inner.msg);
}

tg_status tg_exp_extend_check(const tg_experiment *old, const tg_experiment *e, tg_err *err) {
    tg_run_config was, now;
    tg_status s = tg_exp_cell_config(old, NULL, &was, err);
    if (s == TG_OK) s = tg_exp_cell_config(e, NULL, &now, err);
    if (s != TG_OK) return s;
    if (now.max_steps <= was.max_steps)
        return tg_err_set(err, TG_ERR_ARG, "--resume DIR --max-steps %lld: the cells' budget is %lld steps; a "
                          "resume's --max-steps extends it, so it must be larger%s", (long long)now.max_steps,
                          (long long)was.max_steps, now.max_steps == was.max_steps ? " (an extension to it that "
                          "stopped midway is finished by `tapegrad experiment --resume DIR` alone)" : "");
    /* every cell's: a --vary axis (schedule=constant,cosine, valid-every=...) sets it per cell */
    for (int i = 0; s == TG_OK && i < tg_exp_cell_count(old); i++) {
        tg_exp_cell c;
        tg_exp_cell_get(old, i, &c);
        s = tg_exp_cell_config(old, &c, &was, err);
        if (s == TG_OK) s = extend_cell_check(&was, c.name, err);
        if (s == TG_OK) s = cell_trained_so(old, &c, err);
    }
    if (s != TG_OK) return s;
    char *a = NULL, *b = NULL;
    s = tg_exp_recipe(old, &a, err);
    if (s == TG_OK) s = tg_exp_recipe(e, &b, err);
    if (s == TG_OK) {
        drop_budget(a);
        drop_budget(b);
        if (strcmp(a, b)) {
            char here[TG_PATH_MAX + 64], there[TG_PATH_MAX + 64];   /* a line whole: a name */
            tg_run_config_first_difference(b, a, '\n', here, there, sizeof here);
            s = tg_err_set(err, TG_ERR_ARG, "--resume DIR --max-steps changes the budget only, but the recipes "
                           "differ in more ('%s' against '%s')",
                           TG_RUN_LINE_SHOWN(180, here), TG_RUN_LINE_SHOWN(180, there));
        }
    }
    free(a);
    free(b);
    return s;
}

/* A line of a recipe; its key, the text before " =" ("d-model", "vary norm", "variant pre", "seeds"). */
typedef struct { const char *text; int len, klen; } recipe_line;

/* The line at *p into l, *p moved past it; false at the end. */
static bool recipe_next(const char **p, recipe_line *l) {
    if (!**p) return false;
    const char *nl = strchr(*p, '\n');
    l->text = *p;
    l->len = nl ? (int)(nl - *p) : (int)strlen(*p);
    l->klen = 0;
    while (l->klen < l->len && strncmp(l->text + l->klen, " =", 2)) l->klen++;
    *p += l->len + (nl ? 1 : 0);
    return true;
}

/* The line of text with l's key, or false. */
static bool recipe_find(const char *text, const recipe_line *l, recipe_line *out) {
    while (recipe_next(&text, out))
        if (out->klen == l->klen && !strncmp(out->text, l->text, (size_t)l->klen)) return true;
    return false;
}

/* An axis, a variant's bundle or the seeds: every build's recipe has them. */
static bool recipe_axis(const recipe_line *l) {
    return memchr(l->text, ' ', (size_t)l->klen) || (l->klen == 5 && !strncmp(l->text, "seeds", 5));
}

static bool recipe_same_line(const recipe_line *a, const recipe_line *b) {
    return a->len == b->len && !strncmp(a->text, b->text, (size_t)a->len);
}

/* Whether theirs (a recorded recipe, maybe written by another build) is mine (this build's): each
 * line both have (by key) the same; one only in mine is a setting added since, so it must be at its
 * default (def: the default config as text); one only in theirs a setting this build has not
 * (but an axis, a variant or the seeds: recipe_axis). Otherwise the
 * first line of mine that differs in *here and theirs in *there ("(none)" for a missing line). */
static bool recipe_same(const char *theirs, const char *mine, const char *def, char *here, char *there, size_t len) {
    recipe_line a, b;
    snprintf(here, len, "(none)");
    snprintf(there, len, "(none)");
    for (const char *p = mine; recipe_next(&p, &a);) {
        bool found = recipe_find(theirs, &a, &b);
        if (found ? recipe_same_line(&a, &b) : !recipe_axis(&a) && recipe_find(def, &a, &b) && recipe_same_line(&a, &b))
            continue;
        snprintf(here, len, "%.*s", a.len, a.text);
        if (found) snprintf(there, len, "%.*s", b.len, b.text);
        return false;
    }
    for (const char *p = theirs; recipe_next(&p, &b);)
        if (!recipe_find(mine, &b, &a) && recipe_axis(&b)) {
            snprintf(there, len, "%.*s", b.len, b.text);
            return false;
        }
    return true;
}

/* The recipe recorded in the record text old (DIR/experiment.txt at path) is e's, recipe (without
 * the budget when replace: an extension changes it); else TG_ERR_ARG naming the lines. */
static tg_status record_holds(const tg_experiment *e, char *old, const char *path, const char *recipe, bool replace,
                              tg_err *err) {
    char *mark = strstr(old, "\n" RECIPE_MARK), *mine = strdup(recipe), *def = NULL;
    tg_run_config d;
    tg_run_config_default(&d);
    int n = tg_run_config_format(&d, NULL, 0);
    if (mine && (def = malloc((size_t)n + 1))) tg_run_config_format(&d, def, (size_t)n + 1);
    tg_status s = TG_OK;
    if (!mark)
        s = tg_err_set(err, TG_ERR_FORMAT, "%s: no %.8s line: not an experiment record",
                       TG_SHOWN(path), RECIPE_MARK);
    else if (!def) s = tg_err_set(err, TG_ERR_NOMEM, "out of memory");
    /* a line whole, so that its tail is shown: an axis's line ("vary train = A,B,...") can be
     * longer than a buffer of a path's size, and two lines cut at it were shown alike */
    char *theirs = mark ? mark + 1 + strlen(RECIPE_MARK) : NULL, *here = NULL, *there = NULL;
    if (s == TG_OK && replace) { drop_budget(theirs); drop_budget(mine); }
    size_t len = s == TG_OK ? strlen(mine) + strlen(theirs) + sizeof "(none)" : 0;   /* any line */
    if (s == TG_OK && (!(here = malloc(len)) || !(there = malloc(len))))
        s = tg_err_set(err, TG_ERR_NOMEM, "out of memory");
    if (s == TG_OK && !recipe_same(theirs, mine, def, here, there, len)) {
        if (e->recorded && e->config[0])   /* the arguments and the file they name, or the record */
            s = tg_err_set(err, TG_ERR_ARG, "%s: its arg: lines with --config %s as it is now give '%s', its "
                           "[recipe] has '%s': that file or the record was edited since the experiment started, so "
                           "the record no longer says how the cells were trained; put it back, or give another --out",
                           TG_SHOWN_IN(100, path), TG_SHOWN_IN(100, e->config),
                           TG_RUN_LINE_SHOWN(41, here),
                           TG_RUN_LINE_SHOWN(41, there));   /* (in 512 bytes) */
        else if (e->recorded)   /* its arguments were read from the record: they and its recipe disagree */
            s = tg_err_set(err, TG_ERR_ARG, "%s: its arg: lines give '%s', its [recipe] has '%s': a record edited "
                           "by hand does not say how the cells were trained; put it back, or give another --out",
                           TG_SHOWN(path), TG_RUN_LINE_SHOWN(100, here),
                           TG_RUN_LINE_SHOWN(100, there));
        else
            s = tg_err_set(err, TG_ERR_ARG, "%s holds another experiment (its recipe has '%s', this command '%s'): "
                           "give another --out, or the same command", TG_SHOWN(e->dir),
                           TG_RUN_LINE_SHOWN(120, there), TG_RUN_LINE_SHOWN(120, here));
    }
    free(here);
    free(there);
    free(mine);
    free(def);
    return s;
}

/* experiment.txt holds an argument a line, and its reader refuses a line ending in a CR (a file
 * converted to CRLF): an argument ending in one was recorded and trained, then no --resume or
 * report could read the record back. Both are refused before the lock, naming the argument. */
tg_status tg_exp_args_recordable(const tg_experiment *e, tg_err *err) {
    char shown[160];
    for (int i = 0; i < e->argc; i++) {
        size_t n = strlen(e->argv[i]);
        if (strchr(e->argv[i], '\n') || (n && e->argv[i][n - 1] == '\r'))
            return tg_err_set(err, TG_ERR_ARG, "argument '%s' %s: %s/experiment.txt records one argument a line, "
                              "so the experiment could not be resumed; rename the file or folder",
                              tg_shown(shown, sizeof shown, e->argv[i]),
                              strchr(e->argv[i], '\n') ? "holds a line break" : "ends in a carriage return",
                              e->dir[0] ? tg_exp_dir_shown(e) : "DIR");
    }
    return TG_OK;
}

tg_status tg_exp_record(const tg_experiment *e, bool write, bool replace, tg_err *err) {
    tg_status s0 = tg_exp_args_recordable(e, err);
    if (s0 != TG_OK) return s0;
    char *recipe = NULL;
    tg_status s = tg_exp_recipe(e, &recipe, err);
    if (s != TG_OK) return s;
    char path[TG_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/experiment.txt", e->dir);
    char *old = NULL;
    bool missing = false;
    s = read_record(path, &old, &missing, err);   /* one that cannot be read (a FIFO...) is not taken for none */
    if (s == TG_OK) {
        s = record_holds(e, old, path, recipe, replace, err);
        if (s == TG_OK && replace && write) s = write_record(e, path, recipe, err);   /* checked by tg_exp_extend_check */
    } else if (missing && !write) {
        s = TG_OK;
    } else if (missing && tg_mkdir_p(e->dir) != 0) {
        s = tg_err_set(err, TG_ERR_IO, "cannot create %s: %s", tg_exp_dir_shown(e), strerror(errno));
    } else if (missing) {
        s = write_record(e, path, recipe, err);
    }
    free(old);
    free(recipe);
    return s;
}

void tg_exp_argv_free(int argc, char **argv) {
    for (int i = 0; argv && i < argc; i++) free(argv[i]);
    free(argv);
}

tg_status tg_exp_record_argv(const char *dir, int *argc, char ***argv, tg_err *err) {
    char path[TG_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/experiment.txt", dir);
    char *text;
    tg_status s = read_record(path, &text, NULL, err);
    if (s != TG_OK) return s;
    int n = 0;
    long lineno = 0;
    char **v = NULL;
    for (char *line = text; s == TG_OK && line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = '\0';
        lineno++;
        if (nl && nl > line && nl[-1] == '\r') {   /* tapegrad writes "\n" and no argument holds a line break */
            s = tg_err_set(err, TG_ERR_FORMAT, "%s:%ld: a CR before the line end (converted to CRLF?): not a record "
                           "tapegrad wrote", TG_SHOWN(path), lineno);
            break;
        }
        if (!strcmp(line, "[recipe]")) break;
        if (!strncmp(line, "arg: ", 5)) {
            char **nv = realloc(v, (size_t)(n + 2) * sizeof *nv);
            if (!nv || !(nv[n] = strdup(line + 5))) s = tg_err_set(err, TG_ERR_NOMEM, "out of memory");
            if (nv) v = nv;
            if (s == TG_OK) v[++n] = NULL;
        }
        line = nl ? nl + 1 : NULL;
    }
    free(text);
    if (s == TG_OK && n == 0)
        s = tg_err_set(err, TG_ERR_FORMAT, "%s: no `arg:` lines: not an experiment record",
                       TG_SHOWN(path));
    if (s != TG_OK) { tg_exp_argv_free(n, v); return s; }
    *argc = n;
    *argv = v;
    return TG_OK;
}

/* A word as a POSIX shell reads it back. */
static size_t shell_word(char *out, size_t len, const char *w) {
    bool plain = *w != '\0';
    for (const char *p = w; *p; p++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./=,:+-@%", *p)) plain = false;
    if (plain) return (size_t)snprintf(out, len, "%s", w);
    size_t k = (size_t)snprintf(out, len, "'");
    for (const char *p = w; *p; p++)
        k += (size_t)snprintf(k < len ? out + k : NULL, k < len ? len - k : 0, *p == '\'' ? "'\\''" : "%c", *p);
    return k + (size_t)snprintf(k < len ? out + k : NULL, k < len ? len - k : 0, "'");
}

void tg_exp_command_line(const tg_experiment *e, char *out, size_t len) {
    size_t k = (size_t)snprintf(out, len, "tapegrad experiment");
    for (int i = 0; i < e->argc && k + 1 < len; i++) {
        k += (size_t)snprintf(out + k, len - k, " ");
        if (k + 1 < len) k += shell_word(out + k, len - k, e->argv[i]);
    }
}

/* cmd_train.c: `tapegrad train`: a fresh run into --out RUNDIR, or --resume RUNDIR. */
#define _GNU_SOURCE   /* memfd_create */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "train/ckpt/atomic_file.h"
#include "train/cli/commands.h"
#include "train/run/dist.h"
#include "train/run/run.h"
#include "train/run/text_out.h"

static void usage(FILE *f) {
    fprintf(f, "usage: tapegrad train --train FILE.tsv [--dev DEV.tsv] --out RUNDIR [--config FILE] [flags]\n"
               "       tapegrad train --train-src FILE --train-tgt FILE --out RUNDIR [flags]\n"
               "       tapegrad train --task copy|reverse|sort --out RUNDIR [flags]\n"
               "       tapegrad train --resume RUNDIR [--max-steps N | --time-limit 30m | ...]\n\n"
               "Trains an encoder-decoder Transformer. RUNDIR gets vocab.txt (when learned), last.ckpt,\n"
               "best.ckpt (best dev BLEU), step-N.ckpt (--keep, --keep-every), metrics.tsv, train.log,\n"
               "config.txt, and lock, held while a train runs in RUNDIR: a second train or --resume there\n"
               "is refused. A fresh run refuses a RUNDIR with another run's files (last.ckpt, best.ckpt,\n"
               "step-N.ckpt, ...).\n"
               "Flags override --config FILE (lines `key = value`, keys are the flag names). Limits\n"
               "(--max-steps, --time-limit, --max-epochs) count the whole run, also across resumes.\n"
               "Ctrl-C (SIGINT) or SIGTERM: the current step finishes, last.ckpt is written, exit 0.\n\n"
               "Data-parallel (a TG_MPI build): mpirun -np N tapegrad train ... trains one model on N\n"
               "ranks, rank r computing shard r of every batch; the result equals --accum-shards N in\n"
               "one process bit for bit. Rank 0 alone logs, validates and writes RUNDIR; every rank\n"
               "reads the data (and RUNDIR on --resume). Resume with the same N, or alone.\n\n"
               "  --config FILE                      settings, `key = value` lines (one file)\n"
               "  --resume RUNDIR                    continue RUNDIR/last.ckpt exactly; only training-loop\n"
               "                                     flags may change\n"
               "  -h, --help                         this text\n");
    tg_run_config_help(f, 0xF);
}

typedef struct { const char *name; const char *value; } setting;

static bool file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* The input file a run recorded under flag (--train, --train-src, --train-tgt, --dev, --vocab),
 * else NULL. */
static const char *recorded_input(const tg_run_config *c, const char *flag) {
    static const char *const name[] = {"train", "train-src", "train-tgt", "dev", "vocab"};
    const char *field[] = {c->train, c->train_src, c->train_tgt, c->dev, c->vocab};
    for (int i = 0; i < 5; i++)
        if (!strcmp(flag, name[i])) return field[i];
    return NULL;
}

/* A run's recorded config as its resume takes it: in its own folder, without the --dev and --vocab
 * that older builds took with --task and recorded (a task run never read them, so the run goes on
 * as it was). */
static void as_resumed(tg_run_config *c, const char *rundir) {
    if (c->task[0]) c->dev[0] = c->vocab[0] = '\0';
    snprintf(c->out, sizeof c->out, "%s", rundir);
}

/* check_config_txt's comparison of config.txt, open in f (closed here), with the run's cfg; file
 * and defaults: room for two configs. */
static int compare_config_txt(const char *path, FILE *f, const tg_run_config *cfg, const setting *set, int n_set,
                              tg_run_config *file, tg_run_config *defaults) {
    tg_run_config_default(file);
    tg_err err;
    tg_status st = tg_run_config_read(file, f, path, &err);
    if (st != TG_OK) {   /* a line that does not parse: usage (2); a read error: a failure (1) */
        fprintf(stderr, "tapegrad train: %s: config.txt records the run's recipe, which a resume takes from "
                "last.ckpt and writes there again: put it right or remove it to resume\n", err.msg);
        return st == TG_ERR_FORMAT ? 2 : 1;
    }
    char theirs[TG_PATH_MAX + 64], ours[TG_PATH_MAX + 64];
    tg_run_config_default(defaults);   /* a file without a setting (emptied): nothing to keep */
    const unsigned all = TG_OPT_ALL_GROUPS;
    if (!tg_run_config_first_diff(file, defaults, all, theirs, ours, sizeof ours)) return 0;
    /* as the resume made cfg of the checkpoint's, and the shards of a run from before them */
    as_resumed(file, cfg->out);
    if (file->accum_shards == 0) file->accum_shards = cfg->accum_shards;
    if (file->fit_steps && file->max_steps == 0) file->max_steps = cfg->max_steps;   /* set by the fit, after */
    for (int i = 0; i < n_set; i++)   /* what this resume's flags set (to cfg's values: checked) */
        if (tg_run_config_group(set[i].name) == TG_OPT_LOOP) tg_run_config_set(file, set[i].name, set[i].value, &err);
    unsigned fixed = all & ~(1u << TG_OPT_LOOP);
    bool changed = tg_run_config_first_diff(file, cfg, fixed, theirs, ours, sizeof ours);
    if (!changed && !tg_run_config_first_diff(file, cfg, 1u << TG_OPT_LOOP, theirs, ours, sizeof ours)) return 0;
    tg_run_config_shorten(theirs, sizeof theirs);
    tg_run_config_shorten(ours, sizeof ours);
    if (changed) {
        fprintf(stderr, "tapegrad train: %s has %s, and the run %s (last.ckpt): a resume takes its recipe from "
                "the checkpoint, and config.txt only records it; this setting cannot change when resuming (the "
                "ones that can are flags: train --help, 'training loop'). Put config.txt back, or remove it, to "
                "resume\n", tg_arg_shown(path), theirs, ours);
        return 2;
    }
    /* (a hand's edit, or the flag of a resume stopped before its first checkpoint: the file is
     * written once the run is open, the checkpoint at the next save) */
    fprintf(stderr, "tapegrad train: warning: %s has %s, and the run %s (last.ckpt): config.txt only records the "
            "run's settings, which a resume takes from the checkpoint and its flags (here --%.*s, also when an "
            "earlier resume given it stopped before it saved); config.txt is written again\n",
            tg_arg_shown(path), theirs, ours, (int)strcspn(theirs, " "), theirs);
    return 0;
}

/* A resume takes its recipe from last.ckpt and its flags, then rewrites RUNDIR/config.txt, which
 * records it: a hand's edit there would be undone without a word. One that changes the run (what
 * a flag may not change on a resume) is refused, so that the edit is kept and the user told; one
 * of a setting a flag may change is warned about and rewritten. A config.txt that is absent, a
 * link, a FIFO or a device is not read (the save refuses the last three); one that cannot be read
 * is a failure. 0, or the exit code. */
static int check_config_txt(const char *rundir, const tg_run_config *cfg, const setting *set, int n_set) {
    char path[TG_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/config.txt", rundir);
    FILE *f = tg_afile_fopen_regular(path, true);
    /* absent, a link (ELOOP), a FIFO or device (EINVAL), a socket (ENXIO): nothing a hand edited
     * to keep; one that is there but cannot be read (EACCES, EIO) may hold an edit, which the
     * rewrite would undo unread: a failure, as a --config that cannot be read */
    if (!f && (errno == ENOENT || errno == ELOOP || errno == EINVAL || errno == ENXIO)) return 0;
    if (!f) {
        int e = errno;
        fprintf(stderr, "tapegrad train: %s: cannot read: %s: config.txt records the run's recipe, which a resume "
                "checks for a hand's edit before it writes it again: make it readable, or remove it, to resume\n",
                tg_arg_shown(path), strerror(e));
        return 1;
    }
    /* the file's recipe and the defaults, 13 KiB: on the heap (a cell's train runs deep) */
    struct { tg_run_config file, defaults; } *h = malloc(sizeof *h);
    if (!h) {
        fclose(f);
        fprintf(stderr, "tapegrad train: out of memory\n");
        return 1;
    }
    int rc = compare_config_txt(path, f, cfg, set, n_set, &h->file, &h->defaults);
    free(h);
    return rc;
}

/* --accum-shards 0 means the MPI ranks (1 alone). Over MPI the shards are the ranks, so a run
 * (and its resume) needs as many ranks as it has shards; alone, any shard count runs in turn. A
 * run of one shard (one process's, without --accum-shards) cannot go on over N ranks: they compute
 * N shards of each batch, each with its own padding and dropout stream, other numbers than the
 * whole batch's. file, line: the --config file that set the count (NULL: a flag or the default). */
static int resolve_shards(tg_run_config *cfg, bool resume, const char *file, int line) {
    int ranks = tg_dist_size();
    if (cfg->accum_shards == 0) cfg->accum_shards = resume ? 1 : ranks;   /* resume: a run from before shards */
    if (ranks == 1 || cfg->accum_shards == ranks) return 0;
    if (resume && cfg->accum_shards == 1)
        fprintf(stderr, "tapegrad train: this run computes each batch whole (1 shard, as a run of one process does), "
                "and this job has %d MPI ranks, which compute each batch in %d shards (one a rank, each with its own "
                "padding and dropout): not this run's numbers, so it cannot go on over them. Resume it without "
                "mpirun; a run meant for %d ranks starts with --accum-shards %d (in one process, or as mpirun -np %d "
                "does), and then resumes either way\n", ranks, ranks, ranks, ranks, ranks);
    else if (resume)
        fprintf(stderr, "tapegrad train: this run splits each batch into %d shard%s, and this job has %d ranks: "
                "resume it with mpirun -np %d, or without mpirun (the shards then run in turn)\n",
                cfg->accum_shards, cfg->accum_shards == 1 ? "" : "s", ranks, cfg->accum_shards);
    else if (file)
        fprintf(stderr, "tapegrad train: %s line %d sets accum-shards = %d%s, and this job has %d MPI ranks, each "
                "computing one shard of each batch: give --accum-shards %d to train this recipe over %d ranks (flags "
                "override --config; its numbers then differ from %d shard%s), or run it %s to "
                "repeat it\n", tg_arg_shown(file), line, cfg->accum_shards,
                cfg->accum_shards == 1 ? " (as the config.txt of a run of one process does: each batch whole)" : "",
                ranks, ranks, ranks, cfg->accum_shards, cfg->accum_shards == 1 ? "'s" : "s'",
                cfg->accum_shards == 1 ? "without mpirun" : "with as many ranks, or without mpirun (the shards in turn)");
    else
        fprintf(stderr, "tapegrad train: --accum-shards %d with %d MPI ranks: over MPI each rank computes one "
                "shard, so give --accum-shards %d or leave it out\n", cfg->accum_shards, ranks, ranks);
    return 2;
}

static bool g_config_answered;   /* tg_cmd_train_cell: --config's unused settings not checked */

int tg_cmd_train_cell(int argc, char **argv) {
    g_config_answered = true;
    int rc = tg_cmd_train(argc, argv);
    g_config_answered = false;
    return rc;
}

/* Over MPI, what a rank prints while it judges its command line (a refusal, --help, a warning) is
 * held in a file in memory (memfd_create; else a temporary file), stdout's and stderr's each, until
 * the ranks have agreed (tg_run_agree_args; rank 0's, always shown, as it starts to gather the
 * ranks' verdicts): a bad flag given to every
 * rank once, by rank 0, one that a single rank met from that rank, and going on, a warning that
 * rank 0 did not print (TAPEGRAD_KERNELS=bogus on rank 1 alone) from the lowest rank that did, by
 * itself (a warning every rank printed beside it, by rank 0 alone: compared a line at a time). Where
 * no such file can be made, the rank prints as it goes (lines repeated, nothing lost); held output
 * that could not be written or read back whole is said to be lost, on the real stderr. */
typedef struct { int saved[2]; FILE *held[2]; bool had_error[2]; } held_output;

/* A file to hold output in: in memory, not in /tmp (tmpfile() ignores TMPDIR, and a full /tmp lost
 * the held refusal, its header line alone shown); tmpfile() where memfd_create fails (an old
 * kernel). */
static FILE *held_file(void) {
    int fd = memfd_create("tapegrad-held", MFD_CLOEXEC);
    FILE *f = fd >= 0 ? fdopen(fd, "w+") : NULL;
    if (f) return f;
    if (fd >= 0) close(fd);
    return tmpfile();
}

static void hold_output(held_output *h) {
    h->saved[0] = h->saved[1] = -1;
    h->held[0] = h->held[1] = NULL;
    if (tg_dist_size() == 1) return;
    fflush(stdout);
    fflush(stderr);
    for (int i = 0; i < 2; i++) {
        FILE *t = held_file();
        int saved = t ? dup(1 + i) : -1;
        if (saved < 0 || dup2(fileno(t), 1 + i) < 0) {
            if (t) fclose(t);
            if (saved >= 0) close(saved);
            continue;
        }
        FILE *to = i == 0 ? stdout : stderr;
        h->had_error[i] = ferror(to);   /* (a write that fails while held: output lost) */
        h->held[i] = t, h->saved[i] = saved;
    }
}

static void release_output(held_output *h, bool show, unsigned news);

/* Hashes of the lines of the stderr held so far, each slot's (the last one's: of every line from
 * there on), 0 for none (tg_run_agree_args compares the ranks', before its gather). Rank 0's output,
 * shown whatever the ranks agree, is shown then: a rank that dies or hangs before the gather (rank
 * 1's --config a FIFO no one writes) left rank 0's refusal held, and lost when the job ended. */
static void held_news(void *arg, uint32_t *lines) {
    held_output *h = arg;
    fflush(stderr);
    uint32_t x = 2166136261u;   /* FNV-1a */
    char buf[4096];
    ssize_t n;
    off_t at = 0;
    int line = 0;
    while (h->held[1] && (n = pread(fileno(h->held[1]), buf, sizeof buf, at)) > 0)
        for (ssize_t i = 0; i < n; i++, at++) {
            x = (x ^ (unsigned char)buf[i]) * 16777619u;
            lines[line] = x ? x : 1;
            if (buf[i] == '\n' && line < TG_RUN_NEWS_LINES - 1) line++, x = 2166136261u;
        }
    if (tg_dist_rank() == 0) release_output(h, true, 0);
}

/* Puts stdout and stderr back; show: prints what was held (a rank but 0: stderr's after a line
 * naming the rank); news: stderr's lines of the slots its bits name alone (held_news), after such
 * a line (the ranks go on). */
static void release_output(held_output *h, bool show, unsigned news) {
    fflush(stdout);
    fflush(stderr);
    for (int i = 0; i < 2; i++) {
        if (h->saved[i] < 0) continue;
        dup2(h->saved[i], 1 + i);
        close(h->saved[i]);
        FILE *to = i == 0 ? stdout : stderr;
        bool lost = ferror(to) && !h->had_error[i];
        if (lost) clearerr(to);
        bool lines = !show && news && i == 1;   /* (its own lines alone) */
        if ((show || lines) && i == 1 && tg_dist_rank() > 0)
            fprintf(stderr, lines ? "tapegrad train: rank %d of %d, judging its command line (the ranks go on):\n"
                                  : "tapegrad train: rank %d of %d (rank 0 took its command line):\n",
                    tg_dist_rank(), tg_dist_size());
        char buf[4096];
        size_t n;
        rewind(h->held[i]);
        while (show && (n = fread(buf, 1, sizeof buf, h->held[i])) > 0) fwrite(buf, 1, n, to);
        for (int line = 0; lines && (n = fread(buf, 1, sizeof buf, h->held[i])) > 0;) {
            size_t kept = 0;   /* (stderr is unbuffered: the lines kept in one write, not a byte a write) */
            for (size_t k = 0; k < n; k++) {
                if (news >> line & 1) buf[kept++] = buf[k];
                if (buf[k] == '\n' && line < TG_RUN_NEWS_LINES - 1) line++;
            }
            fwrite(buf, 1, kept, to);
        }
        show = show || lines;
        lost |= show && ferror(h->held[i]);
        if (show && lost)
            fprintf(stderr, "tapegrad train: rank %d of %d: some of what it printed to %s while the ranks judged "
                    "their flags was lost: it could not be %s\n", tg_dist_rank(), tg_dist_size(),
                    i ? "stderr" : "stdout", ferror(h->held[i]) ? "read back" : "held");
        fflush(to);
        fclose(h->held[i]);
        h->held[i] = NULL, h->saved[i] = -1;   /* (released once) */
    }
}

/* A train command as it is judged: its arguments, the recipe they make, and what it holds. On
 * the heap: the recipe, a resume's checkpoint and the open run are 20 KiB, and the run below gets
 * the stack (`ulimit -s 64` crashed it at its first save). */
typedef struct {
    const char *config, *resume;   /* --config FILE, --resume DIR (NULL: not given) */
    setting *set;                  /* the recipe's flags, in their order */
    int n_set;
    tg_run_config cfg;
    tg_loaded loaded;              /* a resume's checkpoint */
    tg_run_config_lines file_lines;   /* where --config set each setting */
    tg_run run;
    bool writer;                   /* over MPI, rank 0 alone writes the run folder */
    int lock;                      /* RUNDIR/lock, held by the writer from before its first write */
} train_cmd;

/* The command line: 0, 2 (a usage error) or -1 (--help printed: the command is done). */
static int parse_args(train_cmd *t, int argc, char **argv) {
    static const struct option extra[] = {
        {"config", required_argument, NULL, 'c'},
        {"resume", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},
    };
    const struct option *opts = tg_run_config_getopt(extra, 3);
    int rc = 0, c;
    optind = 0;
    while (rc == 0 && (c = tg_arg_getopt("train", argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            if (t->config) {   /* the last would win and the first be dropped in silence */
                char a[1024], b[1024];
                fprintf(stderr, "tapegrad train: --config given twice (%s, %s): give one file "
                        "(flags override its settings)\n", tg_shown(a, sizeof a, t->config),
                        tg_shown(b, sizeof b, optarg));
                rc = 2;
            }
            t->config = optarg;
            break;
        case 'r': t->resume = optarg; break;
        case 'h': usage(stdout); rc = -1; break;
        default:
            if (!tg_run_config_name(c)) { usage(stderr); rc = 2; break; }
            t->set[t->n_set++] = (setting){tg_run_config_name(c), optarg ? optarg : "true"};
        }
    }
    if (rc == 0 && optind < argc) {
        fprintf(stderr, "tapegrad train: unexpected argument '%s'\n", tg_arg_shown(argv[optind]));
        rc = 2;
    }
    return rc;
}

/* The recipe before the flags: a resume's checkpoint's (the folder locked), a --config file's, or
 * the defaults. 0, or the exit code. */
static int load_recipe(train_cmd *t) {
    tg_run_config *cfg = &t->cfg;
    tg_err err;
    tg_run_config_default(cfg);
    if (t->resume && strlen(t->resume) >= sizeof cfg->out) {
        /* as --out: the run's folder is held in cfg->out (a longer one was cut, then not found) */
        fprintf(stderr, "tapegrad train: --resume: value too long (at most %zu bytes)\n",
                sizeof cfg->out - 1);
        return 2;
    }
    if (t->resume) {
        char path[TG_PATH_MAX + 32];
        snprintf(path, sizeof path, "%s/last.ckpt", t->resume);
        if (t->config) {
            fprintf(stderr, "tapegrad train: --resume takes its settings from the checkpoint, not "
                    "--config\n");
            return 2;
        }
        if (tg_run_folder_usable(t->resume, &err) != TG_OK) {
            fprintf(stderr, "tapegrad train: cannot resume: %s\n", err.msg);
            return 1;
        }
        if (t->writer && file_exists(path) && (t->lock = tg_run_folder_lock(t->resume, &err)) < 0) {
            fprintf(stderr, "tapegrad train: %s\n", err.msg);
            return 1;
        }
        if (tg_run_load_model(path, &t->loaded, &err) != TG_OK) {
            fprintf(stderr, "tapegrad train: cannot resume: %s\n", err.msg);
            return 1;
        }
        *cfg = t->loaded.cfg;
        as_resumed(cfg, t->resume);
    } else if (t->config) {
        /* a bad setting in the file is the same mistake as a bad flag: a usage error; a file that
         * cannot be read is a failure, as a --train that cannot be */
        tg_status st = tg_run_config_load_lines(cfg, t->config, &t->file_lines, &err);
        if (st != TG_OK) fprintf(stderr, "tapegrad train: %s\n", err.msg);
        return st == TG_OK ? 0 : st == TG_ERR_FORMAT ? 2 : 1;
    }
    return 0;
}

/* The flags over the recipe; on a resume, only those it may change. 0 or 2. */
static int apply_flags(train_cmd *t) {
    tg_run_config *cfg = &t->cfg;
    const char *resume = t->resume;
    tg_err err;
    static char before[64 * 1024], after[64 * 1024];
    for (int i = 0; i < t->n_set; i++) {
        const setting *f = &t->set[i];
        /* a resume given the run's input file by another name (an absolute path, a link): the same
         * file, so the run goes on reading it by its own name */
        const char *was = resume ? recorded_input(cfg, f->name) : NULL;
        if (was && was[0] && strcmp(was, f->value) && tg_cli_same_file(was, f->value)) continue;
        /* (a relative name the current folder does not hold: perhaps the run's file, from
         * elsewhere) */
        bool lost = was && was[0] && was[0] != '/' && access(was, F_OK) != 0;
        tg_run_config_format(cfg, before, sizeof before);
        if (tg_run_config_set(cfg, f->name, f->value, &err) != TG_OK) {
            fprintf(stderr, "tapegrad train: %s\n", err.msg);
            return 2;
        }
        tg_run_config_format(cfg, after, sizeof after);
        char changed[TG_PATH_MAX + 64];   /* (an alias too) */
        tg_run_config_first_difference(before, after, '\n', changed, NULL, sizeof changed);
        if (resume && !strcmp(f->name, "out")) {
            if (strcmp(f->value, resume) && !tg_cli_same_file(f->value, resume)) {
                char a[1024], b[1024];
                fprintf(stderr, "tapegrad train: --out %s with --resume %s: a run is resumed in "
                        "its own folder (leave --out out)\n", tg_shown(a, sizeof a, f->value),
                        tg_shown(b, sizeof b, resume));
                return 2;
            }
        } else if (resume && tg_run_config_group(f->name) != TG_OPT_LOOP && changed[0]) {
            fprintf(stderr, "tapegrad train: --%s cannot change when resuming (the run has %s)%s\n",
                    f->name, TG_RUN_LINE_SHOWN(300, changed),
                    lost ? "; the run's relative names are read from the current folder, where "
                           "it is not: resume from the folder the run started in" : "");
            return 2;
        }
    }
    return 0;
}

/* A resume given a larger budget: what the extension changes, said (experiment refuses both;
 * train lets a user extend a run). */
static void warn_extension(const train_cmd *t) {
    const tg_run_config *cfg = &t->cfg, *w = &t->loaded.cfg;
    int64_t at = t->loaded.st.step;
    /* the cosine decays over --max-steps: another length moves the rate of every step from here
     * on (w->max_steps 0: --fit-steps has not set the length yet) */
    if (!strcmp(cfg->schedule, "cosine") && cfg->max_steps != w->max_steps && w->max_steps > 0 &&
        at > 0)
        fprintf(stderr, "tapegrad train: warning: --max-steps %lld changes the cosine schedule of "
                "this run (at step %lld of %lld): the learning rate now decays over %lld steps, so "
                "it %s from here\n", (long long)cfg->max_steps, (long long)at,
                (long long)w->max_steps, (long long)cfg->max_steps,
                cfg->max_steps > w->max_steps ? "rises" : "falls");
    /* a run that reached its budget validated there; off the --valid-every grid, a run given the
     * larger budget at once would not have, and that validation counts for best.ckpt and
     * --patience */
    if ((w->task[0] || w->dev[0]) && w->max_steps > 0 && at == w->max_steps &&
        cfg->max_steps > w->max_steps && (w->valid_every <= 0 || w->max_steps % w->valid_every != 0))
        fprintf(stderr, "tapegrad train: warning: this run validated at its end, step %lld, off "
                "the --valid-every grid (%d): that validation counts for best.ckpt%s, so the run "
                "extended to %lld steps is not the run trained to %lld at once\n",
                (long long)w->max_steps, w->valid_every, w->patience > 0 ? " and --patience" : "",
                (long long)cfg->max_steps, (long long)cfg->max_steps);
}

/* The recipe as a whole: flags and settings it would not use, and the limits. 0, or the exit
 * code. */
static int check_recipe(train_cmd *t) {
    tg_run_config *cfg = &t->cfg;
    const char *config = t->config, *resume = t->resume;
    tg_err err;
    if (!resume && cfg->fit_steps && cfg->max_steps > 0) {
        fprintf(stderr, "tapegrad train: --fit-steps sets --max-steps from --time-limit: give one "
                "of them\n");
        return 2;
    }
    int was = t->loaded.cfg.keep_every;
    if (resume && tg_run_keep_every_check(was, cfg->keep_every, cfg->keep, &err) != TG_OK) {
        fprintf(stderr, "tapegrad train: %s\n", err.msg);
        return 2;
    }
    /* flags given that the run would not use; on a resume, only those it may change (the others
     * equal what the run recorded, which an older build may have accepted) */
    int rc = 0;
    for (int i = 0; rc == 0 && i < t->n_set; i++)
        if ((!resume || tg_run_config_group(t->set[i].name) == TG_OPT_LOOP) &&
            tg_run_config_check_given(cfg, t->set[i].name, &err) != TG_OK) {
            fprintf(stderr, "tapegrad train: %s\n", err.msg);
            rc = 2;
        }
    /* and the settings of the --config file that it would not use (at their defaults: unused) */
    if (rc == 0 && config && !g_config_answered &&
        tg_run_config_check_lines(cfg, &t->file_lines, config, &err) != TG_OK) {
        fprintf(stderr, "tapegrad train: %s\n", err.msg);
        rc = 2;
    }
    if (rc != 0) return rc;
    /* a cell leaves such settings of its --config file at their defaults, as its argv leaves out
     * such flags (cell_argv): the file's alpha in the beam-1 cell of --vary beam=1,4. Its
     * config.txt then holds what it uses only, and serves as the --config of a run, which refuses
     * the rest */
    if (config && g_config_answered && !resume) tg_run_config_unused_to_defaults(cfg);
    if (resume) snprintf(cfg->out, sizeof cfg->out, "%s", resume);
    bool flag = false;   /* (the --config file's count, unless a flag set it) */
    for (int i = 0; i < t->n_set; i++) flag = flag || !strcmp(t->set[i].name, "accum-shards");
    int line = config && !flag ? tg_run_config_line_of(&t->file_lines, "accum-shards") : 0;
    rc = resolve_shards(cfg, resume != NULL, line > 0 ? config : NULL, line);
    if (rc == 0 && resume && t->writer) rc = check_config_txt(resume, cfg, t->set, t->n_set);
    if (rc == 0 && (tg_run_config_check(cfg, &err) != TG_OK ||
                    (!resume && tg_run_config_check_limits(cfg, &err) != TG_OK))) {
        fprintf(stderr, "tapegrad train: %s\n", err.msg);
        rc = 2;
    }
    return rc;
}

/* A fresh run's folder, made and locked by the writer. 0, or the exit code. */
static int make_folder(train_cmd *t) {
    const tg_run_config *cfg = &t->cfg;
    tg_err err;
    if (t->config && tg_run_input_not_output("config", t->config, cfg->out, &err) != TG_OK) {
        fprintf(stderr, "tapegrad train: %s\n", err.msg);
        return 2;
    }
    if (tg_run_folder_usable(cfg->out, &err) != TG_OK) {
        fprintf(stderr, "tapegrad train: %s\n", err.msg);
        return 1;
    }
    if (tg_mkdir_p(cfg->out) != 0) {
        fprintf(stderr, "tapegrad train: cannot create %s: %s\n", tg_arg_shown(cfg->out),
                strerror(errno));
        return 1;
    }
    if ((t->lock = tg_run_folder_lock(cfg->out, &err)) < 0 ||
        tg_run_folder_fresh(cfg->out, cfg, &err) != TG_OK) {
        fprintf(stderr, "tapegrad train: %s\n", err.msg);
        return 1;
    }
    return 0;
}

/* config.txt, the run opened and trained: the exit code. A fresh run's config.txt comes first
 * (tg_run_folder_fresh); a resume's once the run is open, so that a resume refused (other data, a
 * damaged checkpoint) leaves it as it was. */
static int open_and_train(train_cmd *t) {
    static char text[64 * 1024];
    char path[TG_PATH_MAX + 32];
    tg_err err;
    tg_run_config_format(&t->cfg, text, sizeof text);
    snprintf(path, sizeof path, "%s/config.txt", t->cfg.out);
    if (t->writer && !t->resume && tg_afile_save_own(path, text, strlen(text), &err) != TG_OK) {
        fprintf(stderr, "tapegrad train: %s\n", err.msg);
        return 1;
    }
    if (tg_run_open(&t->run, &t->cfg, t->resume ? &t->loaded : NULL, &err) != TG_OK) {
        fprintf(stderr, "tapegrad train: %s\n", err.msg);
        return 1;
    }
    int rc = 1;
    if (t->writer && t->resume && tg_afile_save_own(path, text, strlen(text), &err) != TG_OK)
        fprintf(stderr, "tapegrad train: %s\n", err.msg);
    else
        rc = tg_run_train(&t->run);
    tg_run_close(&t->run);
    return rc;
}

int tg_cmd_train(int argc, char **argv) {
    train_cmd *t = calloc(1, sizeof *t);
    setting *set = calloc((size_t)argc + 1, sizeof *set);
    if (!t || !set) {   /* (over MPI, the job is aborted) */
        fprintf(stderr, "tapegrad train: out of memory\n");
        free(set);
        free(t);
        return 1;
    }
    t->set = set;
    t->writer = tg_dist_rank() == 0;
    t->lock = -1;
    held_output out;
    hold_output(&out);
    int rc = parse_args(t, argc, argv);   /* -1: --help printed, the command is done */
    if (rc == 0) rc = load_recipe(t);
    if (rc == 0) rc = apply_flags(t);
    if (rc == 0 && t->resume) warn_extension(t);
    if (rc == 0) rc = check_recipe(t);
    /* over MPI every rank has judged its command line: the ranks agree, before anything is written
     * (rank 0's refusal printed by rank 0 alone; one only another rank met, shown from it; every
     * rank ends with the same code, none waits for one that left) */
    int shown;
    bool gathered;
    unsigned own_news;
    char agreed[1024];
    int verdict = tg_run_agree_args(rc, held_news, &out, &shown, &own_news, &gathered, agreed,
                                    sizeof agreed);
    release_output(&out, t->writer || shown == tg_dist_rank(), own_news);
    if (agreed[0] && (t->writer || !gathered)) fprintf(stderr, "tapegrad train: %s\n", agreed);
    if (gathered && verdict != 0) tg_dist_end_together();   /* every rank knows: each ends with the code */
    rc = verdict < 0 ? 0 : verdict;
    if (rc == 0 && verdict == 0 && !t->resume && t->writer) rc = make_folder(t);
    if (rc == 0 && verdict == 0) rc = open_and_train(t);
    tg_loaded_free(&t->loaded);
    if (t->lock >= 0) close(t->lock);
    free(t);
    free(set);
    return rc;
}

/* folders.c: a run's (or an experiment's) folder: creating it with its parents, as `mkdir -p`,
 * the lock a run holds on it, and what a fresh run may find in it. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "datasets/datasets.h"
#include "train/ckpt/atomic_file.h"
#include "train/run/options.h"
#include "train/run/run.h"
#include "train/run/text_out.h"

int tg_mkdir_p(const char *path) {
    char buf[TG_PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) { errno = ENAMETOOLONG; return -1; }
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    return mkdir(buf, 0777) != 0 && errno != EEXIST ? -1 : 0;
}

tg_status tg_run_folder_usable(const char *dir, tg_err *err) {
    struct stat sb;
    if (!*dir) return tg_err_set(err, TG_ERR_IO, "'': an empty path, not a folder");   /* (DIR/x would be /x) */
    if (stat(dir, &sb) != 0 || S_ISDIR(sb.st_mode)) return TG_OK;   /* (other errors: named where it is opened) */
    return tg_err_set(err, TG_ERR_IO, "%s is not a folder", TG_SHOWN(dir));
}

int tg_run_folder_lock(const char *dir, tg_err *err) {
    char path[TG_PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/lock", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0 && errno == ELOOP)   /* (O_NOFOLLOW's "Too many levels of symbolic links") */
        return tg_err_set(err, TG_ERR_IO, "%s is a symbolic link; refusing to open it (remove it: "
                          "a run makes its own)", TG_SHOWN(path)), -1;
    if (fd < 0)
        return tg_err_set(err, TG_ERR_IO, "cannot open %s: %s", TG_SHOWN(path),
                          strerror(errno)), -1;
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) return fd;
    int e = errno;
    close(fd);
    if (e == EWOULDBLOCK)
        tg_err_set(err, TG_ERR_STATE, "%s is in use by another tapegrad train or ckpt diagnose "
                   "(its lock %s is held)", TG_SHOWN(dir), TG_SHOWN(path));
    else
        tg_err_set(err, TG_ERR_IO, "cannot lock %s: %s", TG_SHOWN(path), strerror(e));
    return -1;
}

/* A .tsv the run appends to (metrics.tsv, diagnostics.tsv) holds rows beyond its header: a fresh
 * run would cut them (it keeps the rows up to its own step 0). A symlink, FIFO or device there
 * counts as rows (no run of tapegrad leaves one; it is opened without waiting or following). */
static bool tsv_has_rows(const char *path) {
    FILE *f = tg_afile_fopen_regular(path, true);
    if (!f) return errno != ENOENT;
    bool rows = tg_afile_skip_line(f, NULL) && getc(f) != EOF;
    fclose(f);
    return rows;
}

/* A .tsv whose first line does not begin as the header tapegrad writes there: a user's file, which a
 * fresh run would replace with its header (a one-line file has no rows to tell it by). Empty: not. */
static bool tsv_foreign(const char *path, const char *head) {
    FILE *f = tg_afile_fopen_regular(path, true);
    if (!f) return false;   /* none; a link, FIFO or device counts as rows (tsv_has_rows) */
    char got[20] = {0};
    size_t want = strlen(head), n = fread(got, 1, want + 3, f);
    fclose(f);
    const char *p = got;
    if (n >= 3 && !memcmp(p, "\xef\xbb\xbf", 3)) p += 3, n -= 3;   /* a BOM an editor put there: the trim drops it */
    return n > 0 && (n < want || memcmp(p, head, want) != 0);
}

static bool has_affixes(const char *name, const char *prefix, const char *suffix) {
    size_t n = strlen(name), p = strlen(prefix), s = strlen(suffix);
    return n >= p + s && !strncmp(name, prefix, p) && !strcmp(name + n - s, suffix);
}

/* A file a run writes only once it is past its start (its step-0 last.ckpt): best.ckpt,
 * step-N.ckpt, the experiment's evaluation caches of a cell (eval-*.tsv, dev.hyp-*.txt), and
 * rows in metrics.tsv or diagnostics.tsv. config.txt, vocab.txt, train.log (appended to) and the
 * headers of the .tsv files come before, so a start killed before its first save is run again. */
static bool past_start(const char *dir, const char *name) {
    if (!strcmp(name, "best.ckpt") || has_affixes(name, "step-", ".ckpt") || has_affixes(name, "eval-", ".tsv") ||
        has_affixes(name, "dev.hyp-", ".txt"))
        return true;
    if (strcmp(name, "metrics.tsv") && strcmp(name, "diagnostics.tsv")) return false;
    char path[TG_PATH_MAX + 300];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return tsv_has_rows(path);
}

/* Whether the file at path is a config.txt as a run writes it: it parses, and formatting what it
 * holds gives its text back byte for byte (a hand-written one, with comments or fewer keys, does not);
 * why says what is wrong when not. */
static bool config_a_run_wrote(const char *path, tg_err *why) {
    enum { CFG_MAX = 64 * 1024 };
    tg_run_config *c = malloc(sizeof *c);   /* (6 KiB: a cell's check comes here deep in the stack) */
    char *want = malloc(CFG_MAX), *text = NULL;
    size_t len = 0;
    bool same = false;
    if (!c || !want) {
        tg_err_set(why, TG_ERR_NOMEM, "out of memory");
    } else {
        tg_run_config_default(c);
        if (tg_run_config_load(c, path, why) == TG_OK && tg_file_read(path, CFG_MAX, &text, &len, why) == TG_OK) {
            int n = tg_run_config_format(c, want, CFG_MAX);
            same = n < CFG_MAX && (size_t)n == len && !memcmp(want, text, len);
            if (!same) tg_err_set(why, TG_ERR_STATE, "it differs from the text a run writes");
        }
    }
    free(c);
    free(want);
    free(text);
    return same;
}

/* Where path leads when it does not exist: a dangling link's chain followed by name (at most 40
 * links, as the kernel), else path itself; malloc'd, NULL when out of memory. */
static char *dangling_target(const char *path) {
    char *p = strdup(path);
    for (int hops = 0; p && hops < 40; hops++) {
        struct stat sb;
        char to[TG_PATH_MAX];
        ssize_t n;
        if (lstat(p, &sb) != 0 || !S_ISLNK(sb.st_mode) || (n = readlink(p, to, sizeof to - 1)) <= 0) break;
        to[n] = '\0';
        const char *slash = strrchr(p, '/');
        size_t keep = to[0] == '/' || !slash ? 0 : (size_t)(slash - p) + 1;   /* the link's folder, with its '/' */
        char *next = malloc(keep + (size_t)n + 1);
        if (next) memcpy(next, p, keep), memcpy(next + keep, to, (size_t)n + 1);
        free(p);
        p = next;
    }
    return p;
}

/* Whether path names dir/name: the same file, or (not there yet: config.txt is written before the
 * data are read) the same folder and name, through a dangling link too. A link at dir/name is not
 * that file: the run replaces it (atomic_file.h) or refuses to open it (O_NOFOLLOW). */
static bool names_output(const char *path, const char *dir, const char *name) {
    char out[TG_PATH_MAX + 32];
    snprintf(out, sizeof out, "%s/%s", dir, name);
    struct stat a, b;
    if (stat(path, &a) == 0) return lstat(out, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
    char *target = dangling_target(path);
    if (!target) return false;
    const char *slash = strrchr(target, '/');
    bool same = false;
    if (!strcmp(slash ? slash + 1 : target, name)) {
        char *folder = slash ? strndup(target, slash == target ? 1 : (size_t)(slash - target)) : strdup(".");
        same = folder && stat(folder, &a) == 0 && stat(dir, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
        free(folder);
    }
    free(target);
    return same;
}

tg_status tg_run_input_not_output(const char *flag, const char *path, const char *dir, tg_err *err) {
    static const char *const outputs[] = {"train.log", "metrics.tsv", "diagnostics.tsv", "config.txt", "vocab.txt",
                                          "last.ckpt", "best.ckpt", "lock"};
    for (size_t k = 0; path[0] && k < sizeof outputs / sizeof outputs[0]; k++) {
        if (!strcmp(flag, "vocab") && !strcmp(outputs[k], "vocab.txt")) continue;
        if (names_output(path, dir, outputs[k]))
            return tg_err_set(err, TG_ERR_STATE, "--%s %s is %s/%s, which the run writes: copy it "
                              "out of the run folder, or give another --out", flag,
                              TG_SHOWN(path), TG_SHOWN(dir), outputs[k]);
    }
    return TG_OK;
}

/* The inputs of cfg, as tg_run_input_not_output. */
static tg_status inputs_not_outputs(const char *dir, const tg_run_config *cfg, tg_err *err) {
    const struct { const char *flag, *path; } in[] = {{"train", cfg->train}, {"train-src", cfg->train_src},
        {"train-tgt", cfg->train_tgt}, {"dev", cfg->dev}, {"vocab", cfg->vocab}};
    tg_status s = TG_OK;
    for (size_t i = 0; s == TG_OK && i < sizeof in / sizeof in[0]; i++)
        s = tg_run_input_not_output(in[i].flag, in[i].path, dir, err);
    return s;
}

tg_status tg_run_folder_fresh(const char *dir, const tg_run_config *cfg, tg_err *err) {
    char path[TG_PATH_MAX + 300];
    struct stat sb;
    tg_status in = inputs_not_outputs(dir, cfg, err);
    if (in != TG_OK) return in;
    snprintf(path, sizeof path, "%s/last.ckpt", dir);
    if (stat(path, &sb) == 0)
        return tg_err_set(err, TG_ERR_STATE, "%s already holds a run (its last.ckpt): continue it "
                          "with --resume %s, or give another --out", TG_SHOWN(dir), TG_SHOWN(dir));
    /* an interrupted start's config.txt and vocab.txt are a run's, whole (written atomically, config.txt
     * first): a config.txt that is not the text a run writes, or a vocab.txt with no config.txt, is the
     * user's, and is not replaced (a symlink there is replaced, never followed: atomic_file.h) */
    tg_err why;
    snprintf(path, sizeof path, "%s/config.txt", dir);
    bool config = lstat(path, &sb) == 0 && S_ISREG(sb.st_mode);
    if (config && !config_a_run_wrote(path, &why))
        return tg_err_set(err, TG_ERR_STATE, "%s is not a config.txt a run wrote (%s): move it, "
                          "or give another --out", TG_SHOWN(path), why.msg);
    snprintf(path, sizeof path, "%s/vocab.txt", dir);
    if (lstat(path, &sb) == 0 && S_ISREG(sb.st_mode)) {
        tg_bpe *bpe = NULL;
        if (tg_bpe_load(&bpe, path, &why) != TG_OK)
            return tg_err_set(err, TG_ERR_STATE, "%s is not a vocabulary a run wrote (%s): move "
                              "it, or give another --out", TG_SHOWN(path), why.msg);
        tg_bpe_free(bpe);
        bool learns = !cfg->task[0] && !cfg->vocab[0];   /* run_setup.c writes vocab.txt only then */
        if (learns && !config)
            return tg_err_set(err, TG_ERR_STATE, "%s is a vocabulary no run wrote there (a run writes config.txt "
                              "first): train with it by --vocab %s, or move it", TG_SHOWN(path),
                              TG_SHOWN(path));
    }
    static const struct { const char *name, *head; } tsvs[] = {{"metrics.tsv", "kind\tstep\t"},
                                                               {"diagnostics.tsv", "step\tstack\t"}};
    for (size_t i = 0; i < sizeof tsvs / sizeof tsvs[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, tsvs[i].name);
        if (tsv_foreign(path, tsvs[i].head))
            return tg_err_set(err, TG_ERR_STATE, "%s is not a %s a run wrote (its first line is not the header "
                              "tapegrad writes): move it, or give another --out", TG_SHOWN(path),
                              tsvs[i].name);
    }
    int started = tg_run_folder_started(dir, path, sizeof path);
    if (started > 0)
        return tg_err_set(err, TG_ERR_STATE, "%s holds another run's files (%s) and no "
                          "last.ckpt: give another --out, or put that run's last.ckpt back and "
                          "continue it with --resume %s", TG_SHOWN(dir),
                          TG_SHOWN(path + strlen(dir) + 1), TG_SHOWN(dir));
    int e = errno;
    if (started < 0 && e != ENOENT)
        return tg_err_set(err, TG_ERR_IO, "cannot read %s: %s", TG_SHOWN(dir), strerror(e));
    return TG_OK;
}

int tg_run_folder_started(const char *dir, char *path, size_t cap) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    bool found = false;
    for (struct dirent *e; !found && (e = readdir(d));)
        if ((found = past_start(dir, e->d_name))) snprintf(path, cap, "%s/%s", dir, e->d_name);
    closedir(d);
    return found;
}

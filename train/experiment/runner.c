/* runner.c: trains an experiment's cells one after the other, each by the train command's own
 * code in a forked child, so a cell is exactly `tapegrad train ...` (its own process, its own
 * signal handling, its own exit) and a crash in one cell cannot corrupt the experiment. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "train/experiment/experiment.h"
#include "train/run/progress.h"

static volatile sig_atomic_t g_signal;
static volatile pid_t g_child;

/* Ctrl-C reaches only this process (the child has its own process group): hand it on once, so
 * the cell finishes its step and saves (a second SIGINT would stop train at once). */
static void forward(int sig) {
    g_signal = sig;
    if (g_child > 0) kill(g_child, sig);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static _Noreturn void child(tg_exp_train_fn train, char **argv, bool quiet, pid_t parent) {
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);   /* the experiment killed: its cell goes too */
    if (getppid() != parent) _exit(1);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    if (quiet) {
        int fd = open("/dev/null", O_WRONLY);
        if (fd >= 0) { dup2(fd, 1); dup2(fd, 2); close(fd); }
    }
    int argc = 0;
    while (argv[argc]) argc++;
    int rc = train(argc, argv);
    fflush(NULL);
    _exit(rc);
}

int tg_exp_fork_train(tg_exp_train_fn train, char **argv, bool quiet, int *signalled) {
    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = forward;
    sigemptyset(&sa.sa_mask);
    g_signal = 0;
    g_child = 0;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    fflush(NULL);
    pid_t parent = getpid(), pid = fork();
    if (pid == 0) child(train, argv, quiet, parent);
    int rc = 1;
    if (pid > 0) {
        g_child = pid;
        if (g_signal) kill(pid, g_signal);   /* a signal that came before g_child was set */
        int status;
        pid_t w;
        while ((w = waitpid(pid, &status, 0)) < 0 && errno == EINTR) {}
        if (w == pid) rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    } else {
        fprintf(stderr, "tapegrad experiment: cannot fork: %s\n", strerror(errno));
    }
    g_child = 0;
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    *signalled = g_signal;
    return rc;
}

/* ---- progress ---- */

typedef struct {
    int n, trained;                /* cells in all; cells trained by this invocation */
    double t0, wall, steps;        /* steps trained by this invocation, and their wall time */
    int64_t steps_left;            /* of the cells not done */
} run_progress;

static void progress_line(const run_progress *p, char *out, size_t len) {
    char el[32], rem[32] = "-";
    tg_format_duration(now_s() - p->t0, el, sizeof el);
    if (p->steps > 0) tg_format_duration(p->wall / p->steps * (double)p->steps_left, rem, sizeof rem);
    snprintf(out, len, "elapsed %s | remaining ~%s", el, rem);
}

static tg_status steps_left(const tg_experiment *e, int64_t *out, int *done, tg_err *err) {
    *out = 0;
    *done = 0;
    for (int i = 0; i < tg_exp_cell_count(e); i++) {
        tg_exp_cell c;
        tg_exp_status st;
        tg_run_config cfg;
        tg_exp_cell_get(e, i, &c);
        tg_status s = tg_exp_cell_status(e, &c, &st, err);
        if (s == TG_OK) s = tg_exp_cell_config(e, &c, &cfg, err);
        if (s != TG_OK) return s;
        if (st.state == TG_EXP_DONE) (*done)++;
        else *out += cfg.max_steps - st.step;
    }
    return TG_OK;
}

/* Trains one cell to its budget. Returns 0, or the experiment's exit code when it must stop. */
static int train_cell(const tg_experiment *e, const tg_exp_cell *c, const tg_exp_status *before,
                      tg_exp_train_fn train, run_progress *p) {
    char line[128];
    progress_line(p, line, sizeof line);
    if (before->state == TG_EXP_PARTIAL)
        fprintf(stderr, "tapegrad experiment: [%d/%d] %s: resuming at step %lld | %s\n", c->index + 1, p->n,
                c->name, (long long)before->step, line);
    else
        fprintf(stderr, "tapegrad experiment: [%d/%d] %s: starting | %s\n", c->index + 1, p->n, c->name, line);
    char **argv = calloc((size_t)tg_exp_argv_max(e), sizeof *argv);
    if (!argv) { fprintf(stderr, "tapegrad experiment: out of memory\n"); return 1; }
    tg_exp_cell_argv(e, c, before->state == TG_EXP_PARTIAL, argv);
    double t0 = now_s();
    int sig = 0, rc = tg_exp_fork_train(train, argv, false, &sig);
    free(argv);
    tg_exp_status after;
    tg_err err;
    if (tg_exp_cell_status(e, c, &after, &err) != TG_OK) {
        fprintf(stderr, "tapegrad experiment: cell %s: %s\n", c->name, err.msg);
        return 1;
    }
    if (sig) {
        fprintf(stderr, "tapegrad experiment: stopped by signal %d in cell %s (step %lld saved); run the same "
                "command again to resume\n", sig, c->name, (long long)after.step);
        return 1;
    }
    if (rc != 0) {
        fprintf(stderr, "tapegrad experiment: cell %s failed (%s %d); stopping. Its folder: %s\n", c->name,
                rc > 128 ? "killed by signal" : "exit", rc > 128 ? rc - 128 : rc, c->dir);
        return 1;
    }
    if (after.state != TG_EXP_DONE) {   /* train exits 0 when its own process gets SIGINT too */
        fprintf(stderr, "tapegrad experiment: cell %s stopped at step %lld, before its budget; run the same "
                "command again to resume\n", c->name, (long long)after.step);
        return 1;
    }
    p->trained++;
    p->wall += now_s() - t0;
    p->steps += (double)(after.step - before->step);
    p->steps_left -= after.step - before->step;   /* not re-read: that loads every checkpoint */
    char took[32];
    tg_format_duration(now_s() - t0, took, sizeof took);
    progress_line(p, line, sizeof line);
    fprintf(stderr, "tapegrad experiment: [%d/%d] %s: finished at step %lld in %s (%.1f s of training) | %s\n",
            c->index + 1, p->n, c->name, (long long)after.step, took, after.train_seconds, line);
    return 0;
}

/* DIR/lock, held (flock) by the experiment and, inherited, by its running cell: a second
 * experiment on DIR is refused while either lives. Returns the descriptor, or -1. */
static int lock_dir(const tg_experiment *e) {
    char path[TG_PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/lock", e->dir);
    /* never through a planted link (O_CREAT would make the file it names); O_NONBLOCK: a FIFO is
     * refused, not waited on */
    int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK, 0644);
    if (fd < 0) {
        if (errno == ELOOP) fprintf(stderr, "tapegrad experiment: %s: is a symbolic link; refusing to open it\n", path);
        else fprintf(stderr, "tapegrad experiment: cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fprintf(stderr, "tapegrad experiment: %s: not a regular file\n", path);
        close(fd);
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        fprintf(stderr, "tapegrad experiment: %s is being trained by another process (%s is locked)\n", e->dir,
                path);
        close(fd);
        return -1;
    }
    return fd;
}

int tg_exp_lock(const tg_experiment *e) {
    if (tg_mkdir_p(e->dir) != 0) {
        fprintf(stderr, "tapegrad experiment: cannot create %s: %s\n", e->dir, strerror(errno));
        return -1;
    }
    return lock_dir(e);
}

int tg_exp_run(const tg_experiment *e, tg_exp_train_fn train) {
    run_progress p = {.n = tg_exp_cell_count(e), .t0 = now_s()};
    tg_err err;
    int done;
    if (steps_left(e, &p.steps_left, &done, &err) != TG_OK) {
        fprintf(stderr, "tapegrad experiment: %s\n", err.msg);
        return 1;
    }
    fprintf(stderr, "tapegrad experiment: %d cells (%d variants x %d seeds) in %s; %d at their budget\n", p.n,
            tg_exp_variant_count(e), e->n_seeds, e->dir, done);
    for (int i = 0; i < p.n; i++) {
        tg_exp_cell c;
        tg_exp_status st;
        tg_exp_cell_get(e, i, &c);
        if (tg_exp_cell_status(e, &c, &st, &err) != TG_OK) {
            fprintf(stderr, "tapegrad experiment: cell %s: %s\n", c.name, err.msg);
            return 1;
        }
        if (st.state == TG_EXP_DONE) {
            fprintf(stderr, "tapegrad experiment: [%d/%d] %s: done already (step %lld, %.1f s of training), "
                    "skipped\n", i + 1, p.n, c.name, (long long)st.step, st.train_seconds);
            continue;
        }
        int rc = train_cell(e, &c, &st, train, &p);
        if (rc != 0) return rc;
    }
    char el[32];
    tg_format_duration(now_s() - p.t0, el, sizeof el);
    fprintf(stderr, "tapegrad experiment: all %d cells done (%d trained now, in %s)\n", p.n, p.trained, el);
    return 0;
}

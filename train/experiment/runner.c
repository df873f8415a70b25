/* runner.c: trains an experiment's cells, each by the train command's own code in a forked child,
 * so a cell is exactly `tapegrad train ...` (its own process, its own signal handling, its own
 * exit) and a crash in one cell cannot corrupt the experiment. One cell after the other, or
 * --jobs N at a time: a cell's result does not depend on which (each is its own run). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "train/ckpt/atomic_file.h"
#include "train/experiment/experiment.h"
#include "train/run/progress.h"
#include "train/run/text_out.h"

static volatile sig_atomic_t g_signal;
static volatile sig_atomic_t g_pipe_broken;   /* a SIGPIPE came: stderr's or stdout's reader went away */
static volatile sig_atomic_t g_child[TG_EXP_MAX_JOBS];   /* the running cells' pids, 0: a free slot */
static sigset_t g_old_mask;   /* the signal mask before catch_signals, put back by restore_signals */
static struct sigaction g_old_chld;   /* and SIGCHLD's action */

/* Handed on to the cells: the stop signals (atomic_file.h), Ctrl-C and SIGTERM and the others that
 * end a process and that a terminal (SIGHUP), `timeout -s` or a scheduler sends. One left to end
 * this process would have its cells SIGKILLed (PR_SET_PDEATHSIG) in their saves' middle, their
 * temporaries left. But for SIGINT and SIGTERM, one ignored from the start (nohup's SIGHUP) stays
 * ignored, by this process and its cells. */
static const int FORWARDED[] = {TG_STOP_SIGNALS};
#define N_FORWARDED TG_N_STOP_SIGNALS
#define N_CAUGHT (N_FORWARDED + 2)   /* and SIGTSTP, SIGCONT: stop_too, continue_too */

/* sig to every running cell (from a handler: async-signal-safe). */
static void signal_cells(int sig) {
    for (int i = 0; i < TG_EXP_MAX_JOBS; i++)
        if (g_child[i] > 0) kill((pid_t)g_child[i], sig);
}

/* Ctrl-C reaches only this process (each child has its own process group): hand it on once, so
 * each running cell finishes its step and saves (a second SIGINT would stop train at once). */
static void forward(int sig) {
    int saved = errno;
    g_signal = sig;
    if (sig == SIGPIPE) g_pipe_broken = 1;
    signal_cells(sig);
    /* stopping with stderr stalled (a reader that does not read), this process would wait in its
     * write for ever, its cells saved and unreaped: the write, restarted (SA_RESTART) on the same
     * descriptor, goes to the /dev/null that then takes stderr's place */
    tg_console_drop_if_stalled();
    errno = saved;
}

/* Ctrl-Z (SIGTSTP) reaches only this process too: the cells are stopped with it, then this process
 * stops; continued (fg, bg, kill -CONT), it continues them (continue_too). SIGSTOP itself cannot
 * be caught: `kill -STOP` of this process alone leaves its cells training. */
static struct sigaction g_tstp;   /* this handler, put back once continued */

static void stop_too(int sig) {
    int saved = errno;
    signal_cells(SIGSTOP);
    signal(sig, SIG_DFL);
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, sig);
    sigprocmask(SIG_UNBLOCK, &s, NULL);
    raise(sig);   /* stopped here, until continued */
    /* continued (continue_too has run), or never stopped: in a process group with no parent in
     * the session (setsid, the shell gone) the kernel drops a SIGTSTP, and the cells, stopped above,
     * would wait for ever */
    signal_cells(SIGCONT);
    sigprocmask(SIG_BLOCK, &s, NULL);
    sigaction(sig, &g_tstp, NULL);
    errno = saved;
}

static void continue_too(int sig) {
    (void)sig;
    signal_cells(SIGCONT);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Closes, in a cell, the descriptors this process opened for itself (the other cells' pipes, its
 * own pipe's read end: each marked close-on-exec), as the exec of a `tapegrad train` would: a cell
 * holds what train alone holds, not a descriptor more for each cell beside it (`ulimit -n 8`
 * failed a cell of --jobs 2 where train alone needs 7). What the experiment was given without
 * that mark (DIR/lock, kept: held by its running cells too; a descriptor its parent passed on, a
 * --train /dev/fd/N) stays. */
static void close_own_descriptors(void) {
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        for (struct dirent *de; (de = readdir(d));) {
            int fd = atoi(de->d_name);
            if (fd > 2 && fd != dirfd(d) && (fcntl(fd, F_GETFD) & FD_CLOEXEC)) close(fd);
        }
        closedir(d);
        return;
    }
    /* no /proc, or no descriptor left to read it with: each one below the limit */
    struct rlimit rl;
    rlim_t max = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (1 << 20) ? rl.rlim_cur : (1 << 20);
    for (int fd = 3; fd < (int)max; fd++) {
        int flags = fcntl(fd, F_GETFD);
        if (flags >= 0 && (flags & FD_CLOEXEC)) close(fd);
    }
}

enum { OUT_INHERIT = -1, OUT_QUIET = -2 };   /* the child's stdout/stderr: as this process's, /dev/null */

/* out: OUT_INHERIT, OUT_QUIET, or a pipe's write end that gets both. */
/* The FORWARDED signals are blocked on entry (mask: the mask to put back): until their handlers
 * are the default, a signal here would run forward() in this process, with its copy of g_child (the
 * signal lost for this cell, and sent on to the cells started before it). */
static _Noreturn void child(tg_exp_train_fn train, char **argv, int out, pid_t parent, const sigset_t *mask) {
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);   /* the experiment killed: its cells go too */
    if (getppid() != parent) _exit(1);
    for (int i = 0; i < N_FORWARDED; i++) {
        struct sigaction now;
        if (sigaction(FORWARDED[i], NULL, &now) == 0 && now.sa_handler != SIG_IGN) signal(FORWARDED[i], SIG_DFL);
    }
    struct sigaction tstp;
    if (sigaction(SIGTSTP, NULL, &tstp) == 0 && tstp.sa_handler == stop_too) signal(SIGTSTP, SIG_DFL);
    signal(SIGCONT, SIG_DFL);
    sigprocmask(SIG_SETMASK, mask, NULL);
    int fd = out == OUT_QUIET ? open("/dev/null", O_WRONLY) : out;
    if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        if (fd > 2) close(fd);
    }
    close_own_descriptors();
    int argc = 0;
    while (argv[argc]) argc++;
    int rc = train(argc, argv);
    fflush(NULL);
    _exit(rc);
}

/* The FORWARDED signals to forward(), SIGTSTP to stop_too() (unless ignored from the start) and
 * SIGCONT to continue_too(), while cells run; *old: the handlers to put back. */
static void catch_signals(struct sigaction old[N_CAUGHT]) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = forward;
    /* restarted: a write of this process's to a stderr that is slow (a pipe) is not cut short and
     * its line lost; poll() is never restarted, so the loop of run_jobs still wakes at once */
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    g_signal = g_pipe_broken = 0;
    for (int i = 0; i < TG_EXP_MAX_JOBS; i++) g_child[i] = 0;
    for (int i = 0; i < N_FORWARDED; i++) {
        sigaction(FORWARDED[i], NULL, &old[i]);
        if (old[i].sa_handler != SIG_IGN || FORWARDED[i] == SIGINT || FORWARDED[i] == SIGTERM)
            sigaction(FORWARDED[i], &sa, NULL);
    }
    g_tstp = sa;
    g_tstp.sa_handler = stop_too;
    sigaction(SIGTSTP, NULL, &old[N_FORWARDED]);
    if (old[N_FORWARDED].sa_handler != SIG_IGN) sigaction(SIGTSTP, &g_tstp, NULL);
    sa.sa_handler = continue_too;
    sigaction(SIGCONT, &sa, &old[N_FORWARDED + 1]);
    tg_stop_signals_unblock(&g_old_mask);   /* started with them blocked, none was handed on */
    /* SIGCHLD ignored (SIG_IGN, inherited through exec from a launcher) has the kernel reap the
     * cells at their exit: waitpid then finds none, and a cell that ended was taken for failed
     * (exit 1), or, with --jobs, waited for forever. The default keeps them for waitpid. */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(SIGCHLD, &dfl, &g_old_chld);
}

static void restore_signals(const struct sigaction old[N_CAUGHT]) {
    for (int i = 0; i < N_FORWARDED; i++) sigaction(FORWARDED[i], &old[i], NULL);
    /* as train: the reader gone, SIGPIPE stays ignored, so the lines after fail rather than kill */
    if (g_pipe_broken) signal(SIGPIPE, SIG_IGN);
    sigaction(SIGTSTP, &old[N_FORWARDED], NULL);
    sigaction(SIGCONT, &old[N_FORWARDED + 1], NULL);
    sigprocmask(SIG_SETMASK, &g_old_mask, NULL);
    sigaction(SIGCHLD, &g_old_chld, NULL);
}

/* fork(), but for the tests TAPEGRAD_FAIL_FORK=N makes the N-th fork of this process fail (EAGAIN),
 * as at a process limit (ulimit -u, a container's pids.max) that root, who runs the tests, does not
 * meet. */
static pid_t fork_or_fault(void) {
    static long count;
    const char *v = getenv("TAPEGRAD_FAIL_FORK");
    if (v && *v && ++count == strtol(v, NULL, 10)) {
        errno = EAGAIN;
        return -1;
    }
    return fork();
}

/* Forks a child running train(argv) into slot; returns its pid, or -1 (the message printed, naming
 * what: what the child was to run, "cell NAME"). */
static pid_t spawn(tg_exp_train_fn train, char **argv, int out, int slot, const char *what) {
    sigset_t block, old;
    sigemptyset(&block);
    for (int i = 0; i < N_FORWARDED; i++) sigaddset(&block, FORWARDED[i]);
    sigaddset(&block, SIGTSTP);   /* (a Ctrl-Z meanwhile would leave this child running) */
    fflush(NULL);
    /* blocked from before the fork until g_child[slot] is set: one that comes meanwhile is
     * forwarded to this child too when it is let through */
    sigprocmask(SIG_BLOCK, &block, &old);
    int came = g_signal;   /* before the block: forward() did not know this child */
    pid_t parent = getpid(), pid = fork_or_fault();
    if (pid == 0) child(train, argv, out, parent, &old);
    int fork_errno = errno;
    if (pid > 0) {
        setpgid(pid, pid);   /* as the child does: whichever runs first (a Ctrl-C reaches it only by forward()) */
        g_child[slot] = pid;
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    if (pid < 0) {
        /* nothing was made for it: train makes a cell's folder, in the child */
        fprintf(stderr, "tapegrad experiment: %s not started: cannot fork: %s; run the same command again once "
                "processes can be made\n", what, strerror(fork_errno));
        return -1;
    }
    if (came) kill(pid, came);
    return pid;
}

static int exit_code(int status) {
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* With catch_signals in force: runs train(argv) in a child and waits for it. Its exit code, or 1 when it
 * could not be waited for, or -1 when it did not start (the message printed). */
static int fork_wait(tg_exp_train_fn train, char **argv, int out, const char *what) {
    int rc = 1;
    pid_t pid = spawn(train, argv, out, 0, what);
    if (pid < 0) return -1;
    int status;
    pid_t w;
    while ((w = waitpid(pid, &status, 0)) < 0 && errno == EINTR) {}
    if (w == pid) rc = exit_code(status);
    g_child[0] = 0;
    return rc;
}

int tg_exp_fork_train(tg_exp_train_fn train, char **argv, bool quiet, int *signalled) {
    struct sigaction old[N_CAUGHT];
    catch_signals(old);
    int rc = fork_wait(train, argv, quiet ? OUT_QUIET : OUT_INHERIT, "the timed steps");
    restore_signals(old);
    *signalled = g_signal;
    return rc;
}

/* ---- progress ---- */

typedef struct {
    int n, trained, jobs;          /* cells in all; cells trained by this invocation; at a time */
    double t0, wall, steps;        /* steps trained by this invocation, and the cells' wall time */
    int64_t steps_left;            /* of the cells not done */
    char *recipe;                  /* with a --config file: the recipe when this invocation began */
    char stopped_at[TG_EXP_NAME_MAX + 32];   /* the cell whose end or start stopped the others ("": none) */
} run_progress;

static void progress_line(const run_progress *p, char *out, size_t len) {
    char el[32], rem[32] = "-";
    tg_format_duration(now_s() - p->t0, el, sizeof el);
    if (p->steps > 0) tg_format_duration(p->wall / p->steps * (double)p->steps_left / p->jobs, rem, sizeof rem);
    snprintf(out, len, "elapsed %s | remaining ~%s", el, rem);
}

/* (not inlined: its cell and config, 9 KiB, would stay on tg_exp_run's frame, above every cell's train) */
static __attribute__((noinline)) tg_status steps_left(const tg_experiment *e, int64_t *out, int *done, tg_err *err) {
    *out = 0;
    *done = 0;
    for (int i = 0; i < tg_exp_cell_count(e); i++) {
        tg_exp_cell c;
        tg_exp_status st;
        tg_run_config cfg;
        tg_exp_cell_get(e, i, &c);
        tg_status s = tg_exp_cell_status(e, &c, &st, err);
        if (s == TG_OK) s = tg_exp_cell_config(e, &c, &cfg, err);
        if (s != TG_OK) {
            tg_err inner = *err;
            return tg_err_set(err, s, "cell %s: %s", TG_EXP_CELL_SHOWN(c.name), inner.msg);
        }
        if (st.state == TG_EXP_DONE) (*done)++;
        else *out += cfg.max_steps - st.step;
    }
    return TG_OK;
}

/* ---- one cell ---- */

/* The cell's state in *st: 0 when it is to be trained, 1 when it is at its budget (a line says it is
 * skipped), -1 when it cannot be read (the message printed). */
static int cell_todo(const tg_experiment *e, const tg_exp_cell *c, tg_exp_status *st, const run_progress *p) {
    tg_err err;
    if (tg_exp_cell_status(e, c, st, &err) != TG_OK) {
        fprintf(stderr, "tapegrad experiment: cell %s: %s\n", c->name, err.msg);
        return -1;
    }
    if (st->state != TG_EXP_DONE) return 0;
    fprintf(stderr, "tapegrad experiment: [%d/%d] %s: done already (step %lld, %.1f s of training), skipped\n",
            c->index + 1, p->n, c->name, (long long)st->step, st->train_seconds);
    return 1;
}

/* The cell's argv for train (free it), its start line printed; NULL (the message printed) when out
 * of memory, or when the --config file was edited since this invocation began. */
static char **cell_start(const tg_experiment *e, const tg_exp_cell *c, const tg_exp_status *before,
                         const run_progress *p) {
    tg_err err;   /* a cell not started reads the --config file: as it was when the experiment began */
    if (p->recipe && before->state == TG_EXP_NEW && tg_exp_recipe_unchanged(e, p->recipe, &err) != TG_OK) {
        fprintf(stderr, "tapegrad experiment: cell %s: %s\n", c->name, err.msg);
        return NULL;
    }
    char line[128];
    progress_line(p, line, sizeof line);
    if (before->state == TG_EXP_PARTIAL)
        fprintf(stderr, "tapegrad experiment: [%d/%d] %s: resuming at step %lld | %s\n", c->index + 1, p->n,
                c->name, (long long)before->step, line);
    else
        fprintf(stderr, "tapegrad experiment: [%d/%d] %s: starting | %s\n", c->index + 1, p->n, c->name, line);
    char **argv = calloc((size_t)tg_exp_argv_max(e), sizeof *argv);
    if (!argv) { fprintf(stderr, "tapegrad experiment: out of memory\n"); return NULL; }
    tg_exp_cell_argv(e, c, before->state == TG_EXP_PARTIAL, argv);
    return argv;
}

/* After the cell's child ended with exit code rc (sig: the signal this process got, 0: none;
 * stopped: it was sent SIGTERM as another cell ended the experiment), started at t0: 0 when it reached its
 * budget, else 1 with the message why. */
static int cell_end(const tg_experiment *e, const tg_exp_cell *c, const tg_exp_status *before, int rc, int sig,
                    bool stopped, double t0, run_progress *p) {
    tg_exp_status after;
    tg_err err;
    /* the cell's checkpoint is checked against the recipe with the --config file read again: one
     * edited meanwhile is named, not taken for a checkpoint trained with other settings */
    if (p->recipe && tg_exp_recipe_unchanged(e, p->recipe, &err) != TG_OK) {
        fprintf(stderr, "tapegrad experiment: cell %s: %s\n", c->name, err.msg);
        return 1;
    }
    if (tg_exp_cell_status(e, c, &after, &err) != TG_OK) {
        /* the file edited between the check above and the status's own read of it (another cell's
         * end, a hand): named as such, not as a checkpoint trained with another recipe */
        tg_err edited;
        if (p->recipe && tg_exp_recipe_unchanged(e, p->recipe, &edited) != TG_OK) err = edited;
        fprintf(stderr, "tapegrad experiment: cell %s: %s\n", c->name, err.msg);
        return 1;
    }
    /* saved (or killed by the SIGTERM before train's handler was set); an exit 1 is a failure of its
     * own (the same full disk, say), told as such */
    if (stopped && after.state != TG_EXP_DONE && (rc == 0 || rc == 128 + SIGTERM)) {
        /* (that cell failed, or stopped before its budget on a signal of its own: said above) */
        fprintf(stderr, "tapegrad experiment: cell %s stopped at step %lld, as the experiment stopped at cell %s "
                "(above); run the same command again to resume\n", c->name, (long long)after.step, p->stopped_at);
        return 1;
    }
    if (sig) {
        fprintf(stderr, "tapegrad experiment: stopped by signal %d in cell %s (step %lld saved); run the same "
                "command again to resume\n", sig, c->name, (long long)after.step);
        return 1;
    }
    if (rc != 0) {
        char cell[4 * sizeof c->dir];
        fprintf(stderr, "tapegrad experiment: cell %s failed (%s %d); stopping. Its folder: %s\n", c->name,
                rc > 128 ? "killed by signal" : "exit", rc > 128 ? rc - 128 : rc, tg_shown(cell, sizeof cell, c->dir));
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
    char took[32], line[128];
    tg_format_duration(now_s() - t0, took, sizeof took);
    progress_line(p, line, sizeof line);
    fprintf(stderr, "tapegrad experiment: [%d/%d] %s: finished at step %lld in %s (%.1f s of training) | %s\n",
            c->index + 1, p->n, c->name, (long long)after.step, took, after.train_seconds, line);
    return 0;
}

/* Trains one cell to its budget, its output this process's. Returns 0, or the exit code to stop with. */
static int train_cell(const tg_experiment *e, const tg_exp_cell *c, const tg_exp_status *before,
                      tg_exp_train_fn train, run_progress *p) {
    char **argv = cell_start(e, c, before, p);
    if (!argv) return 1;
    double t0 = now_s();
    char what[sizeof c->name + 8];
    snprintf(what, sizeof what, "cell %s", c->name);
    int rc = fork_wait(train, argv, OUT_INHERIT, what);
    free(argv);
    if (rc < 0) return 1;   /* not started (said): no folder of its to name */
    return cell_end(e, c, before, rc, g_signal, false, t0, p);
}

/* ---- --jobs N: cells side by side ---- */

/* A running cell: its child, and the read end of the pipe that has its stdout and stderr, whose
 * lines this process prints with the cell's name in front (so interleaved lines stay readable). */
typedef struct {
    pid_t pid;               /* 0: a free slot */
    int fd;                  /* -1 once the child's output ended */
    tg_exp_cell cell;
    tg_exp_status before;
    double t0;
    bool told_to_stop;       /* sent SIGTERM, another cell having failed */
    size_t len;              /* bytes of a line not yet printed */
    char buf[1024];
} job;

static void job_print(job *j, const char *s, size_t n) {
    fprintf(stderr, "[%s] %.*s\n", j->cell.name, (int)n, s);
}

/* Reads what the child wrote (drain: to the end, once it has exited); prints its whole lines. */
static void job_read(job *j, bool drain) {
    while (j->fd >= 0) {
        ssize_t r = read(j->fd, j->buf + j->len, sizeof j->buf - j->len);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 && errno == EAGAIN && !drain) return;
        if (r <= 0) {   /* the end (or a read error, or nothing left of an exited child) */
            if (j->len) job_print(j, j->buf, j->len);
            j->len = 0;
            close(j->fd);
            j->fd = -1;
            return;
        }
        j->len += (size_t)r;
        char *start = j->buf, *nl;
        while ((nl = memchr(start, '\n', j->len - (size_t)(start - j->buf))) != NULL) {
            job_print(j, start, (size_t)(nl - start));
            start = nl + 1;
        }
        j->len -= (size_t)(start - j->buf);
        memmove(j->buf, start, j->len);
        if (j->len == sizeof j->buf) {   /* a line longer than the buffer: printed in pieces */
            job_print(j, j->buf, j->len);
            j->len = 0;
        }
    }
}

/* The pipe for cell c's output could not be made (errno: pipe's), running cells started before it:
 * says why and, out of descriptors, what to do (the cells running stop saved, as after any cell
 * that cannot start). */
static void pipe_failed(const tg_exp_cell *c, int running) {
    int e = errno;
    fprintf(stderr, "tapegrad experiment: cell %s not started: cannot make a pipe for its output: %s", c->name,
            strerror(e));
    struct rlimit rl;
    if (e == EMFILE && getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        fprintf(stderr, " (ulimit -n is %llu, with %d cell%s running); each cell trained beside others takes "
                "descriptors of the experiment's: run the same command again with --jobs %d or lower, or with "
                "ulimit -n raised", (unsigned long long)rl.rlim_cur, running, running == 1 ? "" : "s",
                running > 1 ? running : 1);
    else if (e == EMFILE || e == ENFILE)
        fprintf(stderr, "; run the same command again with a lower --jobs, or once descriptors are free");
    fputc('\n', stderr);
}

/* Starts the cell in slot j, running cells started before it: 0, or 1 (the message printed). */
static int job_start(job *j, int slot, int running, const tg_experiment *e, const tg_exp_cell *c,
                     const tg_exp_status *before, tg_exp_train_fn train, const run_progress *p) {
    char **argv = cell_start(e, c, before, p);
    if (!argv) return 1;
    int fds[2];
    if (pipe(fds) != 0) {
        pipe_failed(c, running);
        free(argv);
        return 1;
    }
    fcntl(fds[0], F_SETFD, FD_CLOEXEC);   /* not inherited by the cells (close_own_descriptors) */
    fcntl(fds[1], F_SETFD, FD_CLOEXEC);   /* (this cell's own end: as its stdout and stderr) */
    *j = (job){.fd = fds[0], .cell = *c, .before = *before, .t0 = now_s()};
    char what[sizeof c->name + 8];
    snprintf(what, sizeof what, "cell %s", c->name);
    j->pid = spawn(train, argv, fds[1], slot, what);
    close(fds[1]);
    free(argv);
    if (j->pid < 0) {
        close(fds[0]);
        j->pid = 0;
        return 1;
    }
    fcntl(fds[0], F_SETFL, O_NONBLOCK);
    return 0;
}

/* Trains the cells not done, in order, up to jobs at a time. A cell that fails stops the others
 * (SIGTERM: each finishes its step and saves) and no more start; a signal to this process, which
 * forward() hands on, likewise. Returns 0, or 1. */
static int run_jobs(const tg_experiment *e, tg_exp_train_fn train, run_progress *p, int jobs) {
    job *js = calloc((size_t)jobs, sizeof *js);   /* (64 of them are 240 KiB: not for the stack) */
    if (!js) {
        fprintf(stderr, "tapegrad experiment: out of memory\n");
        return 1;
    }
    int next = 0, running = 0, rc = 0;
    bool stopping = false;
    for (;;) {
        while (!stopping && !g_signal && running < jobs && next < p->n) {
            tg_exp_cell c;
            tg_exp_status st;
            tg_exp_cell_get(e, next++, &c);
            int todo = cell_todo(e, &c, &st, p);
            if (todo > 0) continue;
            if (todo < 0) {
                rc = 1;
                stopping = true;
                snprintf(p->stopped_at, sizeof p->stopped_at, "%s", c.name);
                break;
            }
            int slot = 0;
            while (js[slot].pid) slot++;
            if (job_start(&js[slot], slot, running, e, &c, &st, train, p) != 0) {
                rc = 1;
                stopping = true;
                snprintf(p->stopped_at, sizeof p->stopped_at, "%s", c.name);
                break;
            }
            running++;
        }
        if (running == 0) break;
        if (stopping && !g_signal)   /* a cell failed: stop the others (a signal was forwarded already) */
            for (int i = 0; i < jobs; i++)
                if (js[i].pid && !js[i].told_to_stop) {
                    kill(js[i].pid, SIGTERM);
                    js[i].told_to_stop = true;
                }
        struct pollfd pf[TG_EXP_MAX_JOBS];
        int np = 0, wait_ms = 200;
        for (int i = 0; i < jobs; i++) {
            if (js[i].pid && js[i].fd >= 0) pf[np++] = (struct pollfd){.fd = js[i].fd, .events = POLLIN};
            if (js[i].pid && js[i].fd < 0) wait_ms = 5;   /* its output ended: it is exiting */
        }
        poll(pf, (nfds_t)np, wait_ms);   /* EINTR (a signal): the loop looks again */
        for (int i = 0; i < jobs; i++) {
            job *j = &js[i];
            if (!j->pid) continue;
            job_read(j, false);
            int status;
            pid_t w = waitpid(j->pid, &status, WNOHANG);
            if (w != j->pid) continue;
            g_child[i] = 0;
            job_read(j, true);
            int end = cell_end(e, &j->cell, &j->before, exit_code(status), g_signal, j->told_to_stop, j->t0, p);
            if (end != 0 && !stopping)
                snprintf(p->stopped_at, sizeof p->stopped_at, "%s", j->cell.name);
            if (end != 0) {
                rc = 1;
                stopping = true;
            }
            j->pid = 0;
            running--;
        }
        if (g_signal) stopping = true;
    }
    free(js);
    return rc;
}

/* DIR/lock, held (flock) by the experiment and, inherited, by its running cells: a second
 * experiment on DIR is refused while either lives. Returns the descriptor, or -1. */
static int lock_dir(const tg_experiment *e) {
    char path[TG_PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/lock", e->dir);
    char shown[4 * sizeof path];   /* path in a message */
    tg_shown(shown, sizeof shown, path);
    /* never through a planted link (O_CREAT would make the file it names); O_NONBLOCK: a FIFO is
     * refused, not waited on */
    int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK, 0644);
    if (fd < 0) {
        if (errno == ELOOP)
            fprintf(stderr, "tapegrad experiment: %s: is a symbolic link; refusing to open it\n", shown);
        else fprintf(stderr, "tapegrad experiment: cannot open %s: %s\n", shown, strerror(errno));
        return -1;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fprintf(stderr, "tapegrad experiment: %s: not a regular file\n", shown);
        close(fd);
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        fprintf(stderr, "tapegrad experiment: %s is being trained by another process (%s is locked)\n",
                tg_exp_dir_shown(e), shown);
        close(fd);
        return -1;
    }
    return fd;
}

int tg_exp_lock(const tg_experiment *e) {
    if (tg_mkdir_p(e->dir) != 0) {
        fprintf(stderr, "tapegrad experiment: cannot create %s: %s\n", tg_exp_dir_shown(e), strerror(errno));
        return -1;
    }
    return lock_dir(e);
}

int tg_exp_run(const tg_experiment *e, tg_exp_train_fn train, int jobs) {
    if (jobs < 1 || jobs > TG_EXP_MAX_JOBS) {
        fprintf(stderr, "tapegrad experiment: --jobs must be 1 to %d, not %d\n", TG_EXP_MAX_JOBS, jobs);
        return 2;
    }
    run_progress p = {.n = tg_exp_cell_count(e), .jobs = jobs, .t0 = now_s()};
    tg_err err;
    int done;
    if (steps_left(e, &p.steps_left, &done, &err) != TG_OK ||
        (e->config[0] && tg_exp_recipe(e, &p.recipe, &err) != TG_OK)) {
        fprintf(stderr, "tapegrad experiment: %s\n", err.msg);
        return 1;
    }
    /* the stop signals are taken (and handed on) from here to the end, between the cells too: one
     * that came as a cell ended, or a reader of this output gone (`| head`: SIGPIPE at this
     * process's next line) stops it as one in a cell does, with a message and exit 1, where before
     * it died at once (exit 128 + N) */
    struct sigaction old[N_CAUGHT];
    catch_signals(old);
    fprintf(stderr, "tapegrad experiment: %d cells (%d variants x %d seeds) in %s; %d at their budget", p.n,
            tg_exp_variant_count(e), e->n_seeds, tg_exp_dir_shown(e), done);
    if (jobs > 1) fprintf(stderr, "; up to %d trained at a time, their lines marked [cell]", jobs);
    fputc('\n', stderr);
    int rc = 0;
    if (jobs > 1) {
        rc = run_jobs(e, train, &p, jobs) != 0;
    } else {
        for (int i = 0; rc == 0 && !g_signal && i < p.n; i++) {
            tg_exp_cell c;
            tg_exp_status st;
            tg_exp_cell_get(e, i, &c);
            int todo = cell_todo(e, &c, &st, &p);
            if (todo < 0) rc = 1;
            else if (todo == 0) rc = train_cell(e, &c, &st, train, &p);
        }
    }
    /* a reader gone (`--resume DIR 2>&1 | head -1`) with no cell left to train stops nothing: the
     * report is made, as `report DIR` makes it (its writes failing from then on, it ends with 1) */
    if (rc == 0 && g_signal == SIGPIPE && done == p.n) g_signal = 0;
    if (rc == 0 && g_signal) {   /* between cells (in one, cell_end said it) */
        fprintf(stderr, "tapegrad experiment: stopped by signal %d between cells, the cells trained saved; run the "
                "same command again to resume\n", (int)g_signal);
        rc = 1;
    }
    restore_signals(old);
    free(p.recipe);
    if (rc != 0) return rc;
    char el[32];
    tg_format_duration(now_s() - p.t0, el, sizeof el);
    fprintf(stderr, "tapegrad experiment: all %d cells done (%d trained now, in %s)\n", p.n, p.trained, el);
    return 0;
}

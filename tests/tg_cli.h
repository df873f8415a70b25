/* tg_cli.h: runs tapegrad's commands from a Check test in a forked child, as a user would (exit
 * code, stdout and stderr in files of the test's scratch folder tg_cli_dir, optional stdin file
 * and one optional NAME=VALUE environment setting, e.g. a fault to inject). */
#ifndef TG_CLI_H
#define TG_CLI_H

#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "train/ckpt/ckpt_file.h"
#include "train/cli/commands.h"

static char tg_cli_dir[256];

/* tg_cli_dir/name. The same name gives the same buffer for the whole test (so a path can be
 * kept in an argv array while others are made); up to TG_CLI_PATHS names a test. */
#define TG_CLI_PATHS 64
static char tg_cli_names[TG_CLI_PATHS][64], tg_cli_paths[TG_CLI_PATHS][512];
static int tg_cli_n_paths;

static inline const char *tg_cli_path(const char *name) {
    for (int i = 0; i < tg_cli_n_paths; i++)
        if (!strcmp(tg_cli_names[i], name)) return tg_cli_paths[i];
    /* without tg_cli_setup the files would land in / (a suite that never made its folder) */
    ck_assert_msg(tg_cli_dir[0] != '\0', "tg_cli_path(\"%s\") before tg_cli_setup", name);
    ck_assert_int_lt(tg_cli_n_paths, TG_CLI_PATHS);
    ck_assert_uint_lt(strlen(name), sizeof tg_cli_names[0]);
    int k = tg_cli_n_paths++;
    snprintf(tg_cli_names[k], sizeof tg_cli_names[k], "%s", name);
    snprintf(tg_cli_paths[k], sizeof tg_cli_paths[k], "%s/%s", tg_cli_dir, name);
    return tg_cli_paths[k];
}

static inline void tg_cli_setup(void) {
    snprintf(tg_cli_dir, sizeof tg_cli_dir, "/tmp/tg_cli_test_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tg_cli_dir));
    tg_cli_n_paths = 0;
}

static inline void tg_cli_teardown(void) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "chmod -R u+w '%s'; rm -rf '%s'", tg_cli_dir, tg_cli_dir);
    ck_assert_int_eq(system(cmd), 0);
}

static inline int tg_cli_dispatch(int argc, char **argv) {
    signal(SIGXFSZ, SIG_IGN);   /* as main.c does */
    if (!strcmp(argv[0], "train")) return tg_cmd_train(argc, argv);
    if (!strcmp(argv[0], "translate")) return tg_cmd_translate(argc, argv);
    if (!strcmp(argv[0], "eval")) return tg_cmd_eval(argc, argv);
    if (!strcmp(argv[0], "ckpt")) return tg_cmd_ckpt(argc, argv);
    if (!strcmp(argv[0], "vocab")) return tg_cmd_vocab(argc, argv);
    if (!strcmp(argv[0], "score")) return tg_cmd_score(argc, argv);
    if (!strcmp(argv[0], "experiment")) return tg_cmd_experiment(argc, argv);
    if (!strcmp(argv[0], "gradcheck")) return tg_cmd_gradcheck(argc, argv);
    if (!strcmp(argv[0], "bench")) return tg_cmd_bench(argc, argv);
    return 99;
}

/* Copies checkpoint src to dst (which may be src) with section `name` replaced by bytes, or left
 * out when bytes is NULL; the other sections as they are. */
static inline void tg_cli_rewrite_section(const char *src, const char *dst, const char *name, const void *bytes,
                                          size_t len) {
    tg_ckpt_reader *r;
    tg_err err;
    ck_assert_msg(tg_ckpt_reader_open(src, &r, &err) == TG_OK, "%s", err.msg);
    tg_ckpt_writer *w = tg_ckpt_writer_new();
    for (int i = 0; i < tg_ckpt_reader_count(r); i++) {
        const tg_ckpt_section *s = tg_ckpt_reader_section(r, i);
        const void *p;
        size_t n;
        ck_assert_int_eq(tg_ckpt_reader_get(r, s->name, &p, &n, &err), TG_OK);
        if (!strcmp(s->name, name)) {
            if (!bytes) continue;
            p = bytes;
            n = len;
        }
        ck_assert_int_eq(tg_ckpt_writer_add(w, s->name, p, n, &err), TG_OK);
    }
    ck_assert_msg(tg_ckpt_writer_save(w, dst, &err) == TG_OK, "%s", err.msg);
    tg_ckpt_writer_free(w);
    tg_ckpt_reader_free(r);
}

/* Starts `tapegrad <argv...>` (NULL-terminated) in a child: stdout to out, stderr to errf, stdin
 * from in (NULL: inherited), env a NAME=VALUE setting (or NULL); as_nobody: the child runs as
 * nobody (uid and gid 65534) when root, who reads any file. Returns the child's pid. */
static inline pid_t tg_cli_spawn_as(bool as_nobody, const char *env, const char *in,
                                    const char *out, const char *errf, char **argv) {
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        signal(SIGINT, SIG_DFL);   /* as a command starts: Check's handlers would end the whole test */
        signal(SIGTERM, SIG_DFL);
        int fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644), fe = open(errf, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fo, 1);
        dup2(fe, 2);
        if (in) dup2(open(in, O_RDONLY), 0);
        if (env) {
            char name[64];
            size_t k = strcspn(env, "=");
            snprintf(name, sizeof name, "%.*s", (int)k, env);
            setenv(name, env + k + (env[k] == '='), 1);
        }
        if (as_nobody && geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0)) _exit(99);
        int argc = 0;
        while (argv[argc]) argc++;
        int rc = tg_cli_dispatch(argc, argv);
        fflush(NULL);
        _exit(rc);
    }
    return pid;
}

static inline pid_t tg_cli_spawn(const char *env, const char *in, const char *out, const char *errf,
                                 char **argv) {
    return tg_cli_spawn_as(false, env, in, out, errf, argv);
}

/* Waits (up to a minute) until the pipe whose read end is rd is full (64 KiB of a command's log
 * lines) and its writer blocked: what it holds stops growing. */
static inline void tg_cli_wait_pipe_full(int rd) {
    int held = -1, now = 0;
    for (int i = 0; i < 600 && (now < 60000 || now != held); i++) {
        held = now;
        nanosleep(&(struct timespec){0, 100000000L}, NULL);
        ck_assert_int_eq(ioctl(rd, FIONREAD, &now), 0);
    }
    ck_assert_int_ge(now, 60000);
}

/* The exit code of child pid (128 + signal if it was killed). */
static inline int tg_cli_wait(pid_t pid) {
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Like tg_cli_wait, but a child still running after `seconds` (blocked on a FIFO, or spinning
 * on /dev/zero) is killed and -1 returned, so a hang fails the test instead of stalling it. */
static inline int tg_cli_wait_bounded(pid_t pid, int seconds) {
    for (long ms = 0; ms < seconds * 1000L; ms += 10) {
        int status;
        pid_t got = waitpid(pid, &status, WNOHANG);
        ck_assert_int_ge(got, 0);
        if (got == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        nanosleep(&(struct timespec){0, 10000000L}, NULL);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

/* tg_cli_run with stdin from /dev/null, bounded as tg_cli_wait_bounded is. */
static inline int tg_cli_run_bounded(int seconds, char **argv) {
    return tg_cli_wait_bounded(
        tg_cli_spawn(NULL, "/dev/null", tg_cli_path("out.txt"), tg_cli_path("err.txt"), argv), seconds);
}

/* Runs a command to completion: stdout to `out` (a path such as /dev/full, or NULL for
 * tg_cli_dir/out.txt), stderr to tg_cli_dir/err.txt. */
static inline int tg_cli_run_to(const char *env, const char *in, const char *out, char **argv) {
    return tg_cli_wait(tg_cli_spawn(env, in, out ? out : tg_cli_path("out.txt"), tg_cli_path("err.txt"), argv));
}

static inline int tg_cli_run(const char *env, char **argv) { return tg_cli_run_to(env, NULL, NULL, argv); }

/* A whole file as a NUL-terminated string ("" if it cannot be read; malloc'd), its length in
 * *len when len is not NULL (files may hold NUL bytes). */
static inline char *tg_cli_slurp_n(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    long n = 0;
    if (f && fseek(f, 0, SEEK_END) == 0) n = ftell(f);
    if (f) fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)(n > 0 ? n : 0) + 1);
    ck_assert_ptr_nonnull(s);
    size_t got = f && n > 0 ? fread(s, 1, (size_t)n, f) : 0;
    s[got] = '\0';
    if (f) fclose(f);
    if (len) *len = got;
    return s;
}

static inline char *tg_cli_slurp(const char *path) { return tg_cli_slurp_n(path, NULL); }

/* Fails the test at file:line unless the command argv ended with exit 0, quoting the end of its
 * stderr (errf): a failure that does not come again (under load, say) keeps its cause in the
 * test's output, where the exit code alone did not. */
static inline void tg_cli_assert_ok(int rc, const char *errf, char **argv, const char *file, int line) {
    if (rc == 0) return;
    size_t n;
    char *e = tg_cli_slurp_n(errf, &n);
    ck_assert_msg(0, "%s:%d: tapegrad %s %s...: exit %d, not 0; its stderr ends:\n%s", file, line, argv[0],
                  argv[1] ? argv[1] : "", rc, e + (n > 1500 ? n - 1500 : 0));
    free(e);
}
#define tg_cli_run_ok(env, argv) \
    tg_cli_assert_ok(tg_cli_run(env, argv), tg_cli_path("err.txt"), argv, __FILE__, __LINE__)

/* tg_cli_dir/name holds needle (else prints what it holds, for the failure). */
static inline bool tg_cli_has(const char *name, const char *needle) {
    char *s = tg_cli_slurp(tg_cli_path(name));
    bool yes = strstr(s, needle) != NULL;
    if (!yes) fprintf(stderr, "--- %s does not contain '%s':\n%s\n", name, needle, s);
    free(s);
    return yes;
}

static inline void tg_cli_write(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
}

#endif /* TG_CLI_H */

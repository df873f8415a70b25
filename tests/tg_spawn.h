/* tg_spawn.h: what the command-line suites share: a `tapegrad` command run in a forked child as a
 * user would run it (its function called with the argv, stdout/stderr/stdin redirected, the exit
 * code collected), and a file read whole. Include after <check.h>. */
#ifndef TG_SPAWN_H
#define TG_SPAWN_H

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "train/cli/commands.h"

/* The command named by argv[0] (99 for a name no suite runs). */
static inline int tg_spawn_dispatch(int argc, char **argv) {
    static const struct { const char *name; tg_command_fn fn; } cmds[] = {
        {"train", tg_cmd_train}, {"translate", tg_cmd_translate}, {"eval", tg_cmd_eval},
        {"ckpt", tg_cmd_ckpt}, {"experiment", tg_cmd_experiment},
    };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (!strcmp(argv[0], cmds[i].name)) return cmds[i].fn(argc, argv);
    return 99;
}

/* Starts `tapegrad <argv...>` (NULL-terminated) in a child with stdout/stderr to files, stdin
 * from `in` (or inherited when NULL). */
static inline pid_t tg_spawn(const char *out, const char *errf, const char *in, char **argv) {
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644), fe = open(errf, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fo, 1);
        dup2(fe, 2);
        if (in) { int fi = open(in, O_RDONLY); dup2(fi, 0); }
        int argc = 0;
        while (argv[argc]) argc++;
        int rc = tg_spawn_dispatch(argc, argv);
        fflush(NULL);
        _exit(rc);
    }
    return pid;
}

/* The child's exit code, or 128 + the signal that ended it. */
static inline int tg_wait_rc(pid_t pid) {
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* The file's bytes, NUL-terminated (malloc'd; "" when it cannot be read). */
static inline char *tg_slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return strdup("");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    size_t got = fread(s, 1, (size_t)n, f);
    s[got] = '\0';
    fclose(f);
    return s;
}

#endif /* TG_SPAWN_H */

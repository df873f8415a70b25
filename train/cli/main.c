/* main.c: `tapegrad SUBCOMMAND [flags]`, dispatched in the style of git. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "autograd/autograd.h"
#include "train/cli/commands.h"
#include "train/run/dist.h"

static const tg_command commands[] = {
    {"train", tg_cmd_train, "train a model on parallel data or a synthetic task, or resume a run"},
    {"translate", tg_cmd_translate, "translate sentences with a checkpoint"},
    {"experiment", tg_cmd_experiment, "train a grid of variants x seeds, resumable; compare them (report)"},
    {"eval", tg_cmd_eval, "loss, perplexity, BLEU and chrF of a checkpoint on a TSV set"},
    {"gradcheck", tg_cmd_gradcheck, "check analytic gradients against finite differences"},
    {"score", tg_cmd_score, "sacreBLEU-compatible BLEU, chrF and chrF++ of a hypothesis file"},
    {"vocab", tg_cmd_vocab, "BPE vocabulary: learn, encode, decode, bench"},
    {"ckpt", tg_cmd_ckpt, "checkpoint tools: info, verify, average, diagnose"},
    {"bench", tg_cmd_bench, "speed: GEMM GFLOP/s and the training step of the anchor configs"},
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *f) {
    fprintf(f, "usage: tapegrad <command> [flags]   (tapegrad <command> --help for its flags)\n\n"
               "tapegrad trains encoder-decoder Transformers for translation (%s build).\n\n"
               "commands:\n", TG_FLOAT_NAME);
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(f, "  %-11s %s\n", commands[i].name, commands[i].summary);
}

/* `train` may be one rank of an MPI job (mpirun -np N tapegrad train ...): a rank that fails ends
 * the whole job, so that no other rank waits for it forever; a failure every rank knows of (a step
 * that failed before its update: tg_dist_end_together) ends each rank on its own, exit 1. */
static int train_job(int argc, char **argv) {
    char msg[256];
    if (tg_dist_init(&argc, &argv, msg, sizeof msg) != 0) {
        fprintf(stderr, "tapegrad train: %s\n", msg);
        return 1;
    }
    int rc = tg_cmd_train(argc - 1, argv + 1);
    if (rc != 0) tg_dist_abort(rc);
    tg_dist_finalize();
    return rc;
}

/* Started with stdin, stdout or stderr closed (`2>&-`), the first file opened would take its
 * number, and what is meant for stderr or stdout would be written into it (a run's lock file, a
 * checkpoint's temporary). Each closed one is held by /dev/null, opened the other way round (stdin
 * write-only, stdout and stderr read-only): a read or write on it still fails with EBADF as on a
 * closed descriptor, so `translate >&-` still ends with its write error. */
static void std_fds_held(void) {
    for (int fd = 0; fd <= 2; fd++) {
        if (fcntl(fd, F_GETFD) != -1) continue;
        int n = open("/dev/null", fd == 0 ? O_WRONLY : O_RDONLY);
        if (n >= 0 && n != fd) close(n);   /* the lowest free number is fd itself */
    }
}

/* Started as one of N > 1 MPI processes (mpirun -np N; Open MPI's and MPICH's variables): only
 * train runs over MPI. Any other command would be run whole by every process (mpirun -np 2
 * tapegrad translate printed every translation twice): refused, by the first process alone. */
static int mpi_only_train(const char *cmd) {
    const char *size = getenv("OMPI_COMM_WORLD_SIZE"), *rank = getenv("OMPI_COMM_WORLD_RANK");
    if (!size) size = getenv("PMI_SIZE"), rank = getenv("PMI_RANK");
    if (!size || atoi(size) <= 1) return 0;
    if (!rank || atoi(rank) == 0)
        fprintf(stderr, "tapegrad%s%s: started as one of %d MPI processes: only train runs over MPI (each process "
                "would do the whole of %s); run it without mpirun\n", *cmd ? " " : "", cmd, atoi(size),
                *cmd ? cmd : "the command");
    return 2;
}

static bool is_help(const char *a) { return !strcmp(a, "--help") || !strcmp(a, "-h") || !strcmp(a, "help"); }

int main(int argc, char **argv) {
    std_fds_held();
    /* A file size limit (ulimit -f) reached by a write ends the process with SIGXFSZ and a core
     * dump by default, in a save's middle; ignored, the write fails with EFBIG, which a save
     * reports as a full disk's ENOSPC (exit 1, the old file kept, no temporary). */
    signal(SIGXFSZ, SIG_IGN);
    if (argc < 2 || strcmp(argv[1], "train")) {   /* (its usage, --help, an unknown command too) */
        int rc = mpi_only_train(argc < 2 ? "" : argv[1]);
        if (rc) return rc;
    }
    if (argc < 2) { usage(stderr); return 2; }
    bool help = is_help(argv[1]);
    if (help && (argc == 2 || is_help(argv[2]))) {
        usage(stdout);
        return tg_cli_output_done("tapegrad", 0);
    }
    /* `tapegrad help CMD [WORD...]` is `tapegrad CMD [WORD...] --help`, as git's (it showed this usage,
     * whatever CMD; then CMD's alone: `help ckpt verify` showed ckpt's, not verify's) */
    static char help_flag[] = "--help";
    if (help) {   /* argv: PROG CMD WORD... --help (argv[argc] stays NULL) */
        memmove(argv + 1, argv + 2, (size_t)(argc - 2) * sizeof *argv);
        argv[argc - 1] = help_flag;
    }
    const char *name = argv[1];
    if (!help && !strcmp(name, "train")) return train_job(argc, argv);
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (commands[i].run && !strcmp(name, commands[i].name))
            return tg_cli_output_done("tapegrad", commands[i].run(argc - 1, argv + 1));
    fprintf(stderr, "tapegrad: unknown command '%s'\n\n", tg_arg_shown(name));
    usage(stderr);
    return 2;
}

/* cmd_ckpt_diagnose.c: `tapegrad ckpt diagnose RUNDIR...`: the per-layer statistics of
 * --diagnostics, computed from the checkpoints a run kept, for runs trained without the flag. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "train/cli/commands.h"
#include "train/run/diagnostics.h"
#include "train/run/text_out.h"

static void usage(FILE *f) {
    fprintf(f, "usage: tapegrad ckpt diagnose [--threads N] RUNDIR...\n\n"
               "For a run trained without --diagnostics: the same per-layer statistics (zero_frac,\n"
               "branch_mean, branch_rms, resid_dep, rank_resid, attn_entropy) of every checkpoint the\n"
               "run kept (step-N.ckpt, and last.ckpt when newer; a folder of step-N.ckpt alone will do:\n"
               "the recipe and vocabulary are read from the newest), on the same fixed dev batch, into\n"
               "RUNDIR/diagnostics.tsv at each checkpoint's step. There are no grad_norm rows (a\n"
               "checkpoint holds no training step's gradient). The run's --train and --dev files are read\n"
               "by the names its checkpoint records (relative ones from the current folder). Every\n"
               "checkpoint must be the run's (its model and vocabulary, step N in step-N.ckpt), else\n"
               "nothing is written. Running it again redoes the rows; the file is replaced at the end in\n"
               "one step (a kill leaves it as it was, and the next diagnose removes its temporary). The\n"
               "rows of a checkpoint that a train with --diagnostics saved are training's, and are kept\n"
               "(gradient norms and all) when diagnostics.tsv holds them (--diagnostics N writes them at\n"
               "the multiples of N): a run trained with --diagnostics throughout is left as it is.\n\n"
               "  --threads N   kernel threads (0: TAPEGRAD_THREADS, else the cores) [0]\n"
               "  -h, --help    this text\n");
}

int tg_ckpt_diagnose(int argc, char **argv) {
    static const struct option opts[] = {
        {"threads", required_argument, NULL, 't'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int threads = 0, c;
    optind = 0;
    while ((c = tg_arg_getopt("ckpt diagnose", argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 't': if (!tg_arg_int("ckpt diagnose", "--threads", optarg, 0, 64, &threads)) return 2; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "tapegrad ckpt diagnose: no run folder given\n\n");
        usage(stderr);
        return 2;
    }
    int rc = 0;
    tg_run_say_as("ckpt diagnose");   /* the setup's lines (pairs read, dropped) are this command's */
    for (int i = optind; i < argc; i++) {
        tg_err err;
        int n = 0;
        if (tg_run_diagnose_checkpoints(argv[i], threads, &n, &err) != TG_OK) {
            fprintf(stderr, "tapegrad ckpt diagnose: %s\n", err.msg);
            rc = 1;
            continue;
        }
        char shown[1024];   /* (control bytes of the name escaped: an ESC reached the terminal) */
        tg_shown(shown, sizeof shown, argv[i]);
        if (n) printf("%s: diagnostics of %d checkpoint%s in %s/diagnostics.tsv\n", shown, n, n == 1 ? "" : "s",
                      shown);
        else printf("%s: trained with --diagnostics, left as it is\n", shown);
    }
    return rc;
}

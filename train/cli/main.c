/* main.c: `tapegrad SUBCOMMAND [flags]`, dispatched in the style of git. */
#include <stdio.h>
#include <string.h>

#include "autograd/autograd.h"
#include "train/cli/commands.h"

static const tg_command commands[] = {
    {"train", tg_cmd_train, "train a model on parallel data or a synthetic task, or resume a run"},
    {"translate", tg_cmd_translate, "translate sentences with a checkpoint"},
    {"experiment", tg_cmd_experiment, "train a grid of variants x seeds, resumable; compare them (report)"},
    {"eval", tg_cmd_eval, "loss, perplexity, BLEU and chrF of a checkpoint on a TSV set"},
    {"gradcheck", tg_cmd_gradcheck, "check analytic gradients against finite differences"},
    {"score", tg_cmd_score, "sacreBLEU-compatible BLEU, chrF and chrF++ of a hypothesis file"},
    {"vocab", tg_cmd_vocab, "BPE vocabulary: learn, encode, decode, bench"},
    {"ckpt", tg_cmd_ckpt, "checkpoint tools: info, verify, average"},
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

int main(int argc, char **argv) {
    if (argc < 2) { usage(stderr); return 2; }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return tg_cli_output_done("tapegrad", 0);
    }
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (commands[i].run && !strcmp(argv[1], commands[i].name))
            return tg_cli_output_done("tapegrad", commands[i].run(argc - 1, argv + 1));
    fprintf(stderr, "tapegrad: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}

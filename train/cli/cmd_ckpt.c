/* cmd_ckpt.c: `tapegrad ckpt SUBCOMMAND`, tools that look at checkpoint files. Each subcommand is
 * a row of the table below with its own flags and --help; info and average, which read a run's
 * sections, are in cmd_ckpt_model.c. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "train/ckpt/ckpt_file.h"
#include "train/cli/commands.h"
#include "train/run/text_out.h"

static void verify_usage(FILE *f) {
    fprintf(f, "usage: tapegrad ckpt verify [--help] FILE...\n\n"
               "Reads each checkpoint completely and checks its magic, format version, header CRC32 and\n"
               "every section's sizes and CRC32 after decompression. Prints the sections and OK, or\n"
               "what is wrong. Exit status 1 when any file is refused.\n");
}

static void print_sections(const tg_ckpt_reader *r) {
    int n = tg_ckpt_reader_count(r);
    const char *path = tg_ckpt_reader_path(r);
    tg_fput_shown(stdout, path, strlen(path));   /* a name's control bytes, escaped */
    printf(": tapegrad checkpoint, format version %u, %d section%s, %llu bytes\n", tg_ckpt_reader_version(r), n,
           n == 1 ? "" : "s", (unsigned long long)tg_ckpt_reader_file_size(r));
    printf("  %-20s %14s %14s %8s\n", "section", "bytes", "compressed", "crc32");
    for (int i = 0; i < n; i++) {
        const tg_ckpt_section *s = tg_ckpt_reader_section(r, i);
        printf("  %-20s %14llu %14llu %08x\n", s->name, (unsigned long long)s->len, (unsigned long long)s->zlen,
               (unsigned)s->crc);
    }
}

static int ckpt_verify(int argc, char **argv) {
    static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    optind = 0;   /* full getopt reset: the tests run commands more than once per process */
    int c;
    while ((c = tg_arg_getopt("ckpt verify", argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'h') {
            verify_usage(stdout);
            return 0;
        }
        verify_usage(stderr);
        return 2;
    }
    if (optind >= argc) {
        fprintf(stderr, "tapegrad ckpt verify: no checkpoint file given\n\n");
        verify_usage(stderr);
        return 2;
    }
    int rc = 0;
    for (int i = optind; i < argc; i++) {
        tg_ckpt_reader *r;
        tg_err err;
        if (tg_ckpt_reader_verify(argv[i], &r, &err) != TG_OK) {
            tg_cli_flush();
            fprintf(stderr, "tapegrad ckpt verify: %s\n", err.msg);
            rc = 1;
            continue;
        }
        print_sections(r);
        printf("OK\n");
        tg_ckpt_reader_free(r);
    }
    tg_cli_flush();
    return rc;
}

static const tg_command subcommands[] = {
    {"info", tg_ckpt_info, "model, step, parameter count and checksum, file size"},
    {"verify", ckpt_verify, "check every section of checkpoint files (sizes, CRC32s)"},
    {"average", tg_ckpt_average, "average the parameters of checkpoints into a model-only one"},
    {"diagnose", tg_ckpt_diagnose, "per-layer diagnostics of a run's kept checkpoints (runs without --diagnostics)"},
};
#define N_SUB (sizeof subcommands / sizeof subcommands[0])

static void ckpt_usage(FILE *f) {
    fprintf(f, "usage: tapegrad ckpt <subcommand> [flags]   (tapegrad ckpt <subcommand> --help)\n\nsubcommands:\n");
    for (size_t i = 0; i < N_SUB; i++) fprintf(f, "  %-9s %s\n", subcommands[i].name, subcommands[i].summary);
}

int tg_cmd_ckpt(int argc, char **argv) {
    if (argc < 2) {
        ckpt_usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        ckpt_usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < N_SUB; i++)
        if (!strcmp(argv[1], subcommands[i].name))
            return tg_cli_output_done("tapegrad ckpt", subcommands[i].run(argc - 1, argv + 1));
    fprintf(stderr, "tapegrad ckpt: unknown subcommand '%s'\n\n", tg_arg_shown(argv[1]));
    ckpt_usage(stderr);
    return 2;
}

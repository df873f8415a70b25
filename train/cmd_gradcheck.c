/* cmd_gradcheck.c: `tapegrad gradcheck --ops`: every op's analytic gradient against finite
 * differences, one line per case, a summary, exit 1 on any failure. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/gradcheck.h"
#include "train/commands.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: tapegrad gradcheck --ops [--json] [--threads N]\n\n"
            "Checks analytic gradients against central finite differences.\n\n"
            "  --ops         every op of the op table, on several shapes (sizes 1, 7, 33), with\n"
            "                masks and broadcasting where the op has them\n"
            "  --json        one JSON object instead of lines\n"
            "  --threads N   threads for the kernels (default: TAPEGRAD_THREADS or the cores)\n"
            "  -h, --help    this text\n\n"
            "Tolerances (%s build): eps %g, atol %g, rtol %g; |analytic - numeric| <= atol + rtol |numeric|.\n"
            "The double build (build-double/tapegrad) uses torch.autograd.gradcheck's defaults.\n",
            TG_FLOAT_NAME, tg_gradcheck_defaults().eps, tg_gradcheck_defaults().atol,
            tg_gradcheck_defaults().rtol);
}

static void json_str(const char *s) {
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') printf("\\%c", *s);
        else if ((unsigned char)*s < 0x20) printf("\\u%04x", *s);
        else putchar(*s);
    }
    putchar('"');
}

static int run_ops(bool json, int threads) {
    enum { CAP = 256 };
    tg_opcheck_line *lines = calloc(CAP, sizeof *lines);
    if (!lines) { fprintf(stderr, "tapegrad gradcheck: out of memory\n"); return 1; }
    int failed = 0;
    int n = tg_opcheck_all(threads, lines, CAP, &failed);
    if (n > CAP) n = CAP;
    tg_gradcheck_opts o = tg_gradcheck_defaults();
    if (json) {
        printf("{\"precision\": \"%s\", \"eps\": %g, \"atol\": %g, \"rtol\": %g, \"checks\": [",
               TG_FLOAT_NAME, o.eps, o.atol, o.rtol);
        for (int i = 0; i < n; i++) {
            printf("%s\n  {\"op\": ", i ? "," : "");
            json_str(lines[i].name);
            printf(", \"shapes\": ");
            json_str(lines[i].shapes);
            printf(", \"checked\": %lld, \"max_abs_err\": %.3e, \"max_rel_err\": %.3e, \"pass\": %s",
                   (long long)lines[i].r.checked, lines[i].r.max_abs, lines[i].r.max_rel,
                   lines[i].r.pass ? "true" : "false");
            if (!lines[i].r.pass) { printf(", \"detail\": "); json_str(lines[i].r.worst); }
            printf("}");
        }
        printf("\n], \"total\": %d, \"failed\": %d, \"pass\": %s}\n", n, failed, failed ? "false" : "true");
    } else {
        printf("%-28s %-30s %8s %11s %11s  %s\n", "op", "shapes", "checked", "max_abs", "max_rel", "result");
        for (int i = 0; i < n; i++) {
            printf("%-28s %-30s %8lld %11.3e %11.3e  %s", lines[i].name, lines[i].shapes,
                   (long long)lines[i].r.checked, lines[i].r.max_abs, lines[i].r.max_rel,
                   lines[i].r.pass ? "PASS" : "FAIL");
            if (!lines[i].r.pass) printf("  (%s)", lines[i].r.worst);
            putchar('\n');
        }
        printf("%d checks, %d passed, %d failed (%s build: eps %g, atol %g, rtol %g)\n", n, n - failed,
               failed, TG_FLOAT_NAME, o.eps, o.atol, o.rtol);
    }
    free(lines);
    return failed ? 1 : 0;
}

int tg_cmd_gradcheck(int argc, char **argv) {
    static const struct option opts[] = {
        {"ops", no_argument, NULL, 'o'},
        {"json", no_argument, NULL, 'j'},
        {"threads", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool ops = false, json = false;
    int threads = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'o': ops = true; break;
        case 'j': json = true; break;
        case 't': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v < 1 || v > 64) {
                fprintf(stderr, "tapegrad gradcheck: --threads wants 1..64, not '%s'\n", optarg);
                return 2;
            }
            threads = (int)v;
            break;
        }
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "tapegrad gradcheck: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    if (!ops) {
        fprintf(stderr, "tapegrad gradcheck: say what to check (--ops)\n");
        usage(stderr);
        return 2;
    }
    return run_ops(json, threads);
}

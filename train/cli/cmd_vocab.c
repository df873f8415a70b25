/* cmd_vocab.c: `tapegrad vocab learn|encode|decode|bench`: the BPE vocabulary from the command
 * line. encode and decode work stdin to stdout, one line each. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "datasets/datasets.h"
#include "train/cli/commands.h"
#include "train/metrics/order_stats.h"
#include "train/run/run.h"
#include "train/cli/read_lines.h"
#include "train/ckpt/atomic_file.h"
#include "train/ckpt/ckpt_file.h"
#include "train/run/text_out.h"

static const char *const usage_text =
    "usage: tapegrad vocab learn  (--data FILE.tsv | --src FILE --tgt FILE) --merges N -o VOCAB\n"
    "                             [--on-bad-line error|skip] [--max-line-bytes N] [--min-count N]\n"
    "       tapegrad vocab encode --vocab VOCAB [--ids]    < text  > pieces\n"
    "       tapegrad vocab decode --vocab VOCAB [--ids]    < pieces > text\n"
    "       tapegrad vocab bench  --data FILE.tsv [--merges N] [--repeat R] [--json]\n"
    "\n"
    "learn   learns a joint source+target BPE vocabulary with N merges from a parallel corpus\n"
    "        (TSV source<TAB>target, or line-aligned files) and writes it as text to VOCAB\n"
    "        (-o or --output). A line longer than --max-line-bytes N (default 65536) is a bad line;\n"
    "        --on-bad-line skip skips bad lines and reports them by reason (default: error).\n"
    "        --min-count N stops merging when the best pair occurs fewer than N times (default 2).\n"
    "encode  normalises and encodes each stdin line: space-separated pieces (\xE2\x96\x81 marks a\n"
    "        word start, <0xNN> a byte of a character never seen in training), or ids with --ids.\n"
    "decode  reads what encode prints (pieces, or ids with --ids) and prints the text, a line of\n"
    "        UTF-8 for each line; what only hand-made byte pieces make, a control character but tab\n"
    "        (<0x0A> a line break, <0x00>, <0x1B>) or a byte that is no UTF-8 (<0xFF>), is printed\n"
    "        as \\xNN (\\x0a, \\x00, \\x1b, \\xff).\n"
    "bench   times reading, learning N merges (default 8000) and encoding both sides of FILE,\n"
    "        R times (default 3); run it pinned to one core (scripts/bench_bpe.sh does).\n";

/* Room for a file name or argument as tg_shown shows it, in a message. */
#define SHOWN_MAX 1024

static int usage_error(const char *msg) {
    char shown[SHOWN_MAX];
    if (msg) fprintf(stderr, "tapegrad vocab: %s\n", tg_shown(shown, sizeof shown, msg));
    fputs(usage_text, stderr);
    return 2;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Per-subcommand flags share one table; each subcommand rejects the ones it does not take. */
enum { OPT_DATA = 1000, OPT_SRC, OPT_TGT, OPT_MERGES, OPT_BAD, OPT_MAXLINE, OPT_MINCOUNT, OPT_VOCAB,
       OPT_IDS, OPT_REPEAT, OPT_JSON, OPT_HELP };

static const struct option long_opts[] = {
    {"data", required_argument, NULL, OPT_DATA},
    {"src", required_argument, NULL, OPT_SRC},
    {"tgt", required_argument, NULL, OPT_TGT},
    {"merges", required_argument, NULL, OPT_MERGES},
    {"output", required_argument, NULL, 'o'},
    {"on-bad-line", required_argument, NULL, OPT_BAD},
    {"max-line-bytes", required_argument, NULL, OPT_MAXLINE},
    {"min-count", required_argument, NULL, OPT_MINCOUNT},
    {"vocab", required_argument, NULL, OPT_VOCAB},
    {"ids", no_argument, NULL, OPT_IDS},
    {"repeat", required_argument, NULL, OPT_REPEAT},
    {"json", no_argument, NULL, OPT_JSON},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

typedef struct vocab_args {
    const char *data, *src, *tgt, *out, *vocab;
    long merges, repeat, min_count;
    bool have_merges, ids, json, help;
    tg_corpus_opts copts;
} vocab_args;

/* Parses flags; `allowed` lists the option codes this subcommand takes. 0 ok, else exit code. */
static int parse_args(int argc, char **argv, const int *allowed, vocab_args *a) {
    memset(a, 0, sizeof *a);
    a->merges = 8000;
    a->repeat = 3;
    optind = 0; /* glibc: a full reset, so tests can run several commands in one process */
    int c, li = -1;   /* li: the long option's index, to name a flag that took its value */
    while ((c = tg_arg_getopt("vocab", argc, argv, "o:h", long_opts, &li)) != -1) {
        if (c == 'h') c = OPT_HELP;
        if (c == '?') return usage_error(NULL);   /* (the option named) */
        bool ok = c == OPT_HELP;
        for (const int *p = allowed; *p && !ok; p++) ok = *p == c;
        if (!ok) {   /* (argv[optind - 1] is the value of `--merges 5`: it named '5') */
            char msg[160];
            if (li >= 0) snprintf(msg, sizeof msg, "flag '--%s' does not apply to 'vocab %s'", long_opts[li].name,
                                  argv[0]);
            else snprintf(msg, sizeof msg, "flag '-%c' does not apply to 'vocab %s'", c, argv[0]);
            return usage_error(msg);
        }
        li = -1;
        long v;
        switch (c) {
        case OPT_HELP: a->help = true; break;
        case OPT_DATA: a->data = optarg; break;
        case OPT_SRC: a->src = optarg; break;
        case OPT_TGT: a->tgt = optarg; break;
        case 'o': a->out = optarg; break;
        case OPT_VOCAB: a->vocab = optarg; break;
        case OPT_IDS: a->ids = true; break;
        case OPT_JSON: a->json = true; break;
        case OPT_MERGES:
            if (!tg_arg_long(optarg, 0, 10000000, &a->merges))
                return usage_error("--merges needs a count from 0 to 10000000");
            a->have_merges = true;
            break;
        case OPT_REPEAT:
            if (!tg_arg_long(optarg, 1, 100, &a->repeat))
                return usage_error("--repeat needs a count from 1 to 100");
            break;
        case OPT_MINCOUNT:
            if (!tg_arg_long(optarg, 1, 1L << 40, &a->min_count))
                return usage_error("--min-count needs a positive count");
            break;
        case OPT_MAXLINE:
            if (!tg_arg_long(optarg, 1, 1L << 30, &v))
                return usage_error("--max-line-bytes needs a positive byte count");
            a->copts.max_line_bytes = (size_t)v;
            break;
        case OPT_BAD:
            if (!strcmp(optarg, "error")) a->copts.on_bad_line = TG_BAD_LINE_ERROR;
            else if (!strcmp(optarg, "skip")) a->copts.on_bad_line = TG_BAD_LINE_SKIP;
            else return usage_error("--on-bad-line takes 'error' or 'skip'");
            break;
        }
    }
    if (optind < argc) {
        char msg[160];
        snprintf(msg, sizeof msg, "unexpected argument '%s'", argv[optind]);
        return usage_error(msg);
    }
    return 0;
}

static int read_corpus(const vocab_args *a, tg_corpus *c) {
    tg_err err;
    tg_status st;
    if (a->data && (a->src || a->tgt)) return usage_error("give --data FILE.tsv or --src/--tgt, not both");
    if (a->data) st = tg_corpus_read_tsv(c, a->data, &a->copts, &err);
    else if (a->src && a->tgt) st = tg_corpus_read_pair(c, a->src, a->tgt, &a->copts, &err);
    else return usage_error("missing the corpus: --data FILE.tsv, or --src FILE --tgt FILE");
    if (st != TG_OK) {
        fprintf(stderr, "tapegrad vocab: %s\n", err.msg);
        return 1;
    }
    return 0;
}

/* "skipped 3 lines: 2 invalid UTF-8 (first at line 5), 1 no tab (first at line 9)" */
static void report_skips(const tg_corpus *c, const char *what) {
    size_t total = 0;
    for (int r = 0; r < TG_BAD_REASON_COUNT; r++) total += c->stats.skipped[r];
    if (!total) return;
    fprintf(stderr, "%s: skipped %zu bad line%s:", what, total, total == 1 ? "" : "s");
    const char *sep = " ";
    for (int r = 0; r < TG_BAD_REASON_COUNT; r++) {
        if (!c->stats.skipped[r]) continue;
        fprintf(stderr, "%s%zu %s (first at line %zu)", sep, c->stats.skipped[r],
                tg_bad_reason_str((tg_bad_reason)r), c->stats.first_line[r]);
        sep = ", ";
    }
    fputc('\n', stderr);
}

/* The folder of -o takes a new file: a temporary made and removed at once, so that a missing or
 * read-only folder is said before the corpus is read and learned (minutes on a large one), not
 * after. A device or FIFO is written in place at the end, and not opened here. */
static bool output_folder_ok(const char *path) {
    tg_afile f;
    tg_err err;
    if (tg_afile_is_special(path)) return true;
    if (tg_afile_open(&f, path, &err) != TG_OK) {
        fprintf(stderr, "tapegrad vocab learn: %s\n", err.msg);
        return false;
    }
    tg_afile_abort(&f);
    return true;
}

static int cmd_learn(int argc, char **argv) {
    static const int allowed[] = {OPT_DATA, OPT_SRC, OPT_TGT, OPT_MERGES, 'o', OPT_BAD, OPT_MAXLINE,
                                  OPT_MINCOUNT, 0};
    vocab_args a;
    int rc = parse_args(argc, argv, allowed, &a);
    if (rc) return rc;
    if (a.help) { fputs(usage_text, stdout); return 0; }
    if (!a.have_merges) return usage_error("vocab learn needs --merges N");
    if (!a.out) return usage_error("vocab learn needs -o VOCAB");
    if (!tg_cli_output_name_ok("tapegrad vocab learn", a.out, true)) return 2;
    const char *inputs[] = {a.data, a.src, a.tgt};
    for (int i = 0; i < 3; i++)
        if (inputs[i] && tg_cli_same_file(a.out, inputs[i])) {
            char so[SHOWN_MAX], si[SHOWN_MAX];
            fprintf(stderr, "tapegrad vocab learn: -o %s is the corpus %s: the vocabulary would replace it; "
                            "give another -o\n", tg_shown(so, sizeof so, a.out), tg_shown(si, sizeof si, inputs[i]));
            return 2;
        }
    /* a checkpoint at -o (a run's last.ckpt, an average): a slip for the vocab.txt beside it; a
     * link there is replaced, not followed (the atomic write), so a regular file alone counts; one
     * that cannot be read might be one, and is not replaced unseen */
    int magic = tg_ckpt_file_magic(a.out), why = errno;
    if (magic == TG_CKPT_FILE_CKPT || magic == TG_CKPT_FILE_UNREADABLE) {
        char so[SHOWN_MAX];
        tg_shown(so, sizeof so, a.out);
        if (magic == TG_CKPT_FILE_CKPT)
            fprintf(stderr, "tapegrad vocab learn: -o %s is a tapegrad checkpoint: the vocabulary "
                            "would replace it; give another -o\n", so);
        else
            fprintf(stderr, "tapegrad vocab learn: -o %s cannot be read (%s): it may be a "
                            "checkpoint, which the vocabulary would replace; give another -o\n", so,
                    strerror(why));
        return 2;
    }
    if (!output_folder_ok(a.out)) return 1;
    tg_corpus c;
    double t0 = now_s();
    if ((rc = read_corpus(&a, &c)) != 0) return rc;
    char what[SHOWN_MAX], out_shown[SHOWN_MAX];
    tg_shown(what, sizeof what, tg_file_shown(a.data ? a.data : a.src));
    fprintf(stderr, "%s: %zu pairs from %zu lines\n", what, c.n, c.stats.lines);
    report_skips(&c, what);
    double t1 = now_s();
    tg_bpe *bpe;
    tg_err err;
    tg_bpe_learn_opts lo = {.merges = (int32_t)a.merges, .min_pair_count = a.min_count};
    tg_status st = tg_bpe_learn(&bpe, &c, &lo, &err);
    tg_corpus_free(&c);
    if (st != TG_OK) {
        fprintf(stderr, "tapegrad vocab learn: %s\n", err.msg);
        return 1;
    }
    double t2 = now_s();
    st = tg_run_vocab_save(bpe, a.out, &err);
    if (st != TG_OK) {
        fprintf(stderr, "tapegrad vocab learn: %s\n", err.msg);
        tg_bpe_free(bpe);
        return 1;
    }
    fprintf(stderr, "learned %d merges%s over %d characters: vocabulary of %d ids "
                    "(4 specials, 256 bytes); read %.2f s, learn %.2f s; wrote %s\n",
            (int)tg_bpe_n_merges(bpe), tg_bpe_n_merges(bpe) < a.merges ? " (no pair left to merge)" : "",
            (int)tg_bpe_n_chars(bpe), (int)tg_bpe_vocab_size(bpe), t1 - t0, t2 - t1,
            tg_shown(out_shown, sizeof out_shown, a.out));
    tg_bpe_free(bpe);
    return 0;
}

static int load_vocab(const vocab_args *a, tg_bpe **bpe) {
    if (!a->vocab) return usage_error("missing --vocab VOCAB");
    if (tg_file_reads_stdin(a->vocab)) {
        char msg[TG_PATH_MAX + 80];
        snprintf(msg, sizeof msg, "--vocab %s: stdin is the text; give the vocabulary as a file", a->vocab);
        return usage_error(msg);
    }
    tg_err err;
    if (tg_bpe_load(bpe, a->vocab, &err) != TG_OK) {
        fprintf(stderr, "tapegrad vocab: %s\n", err.msg);
        return 1;
    }
    return 0;
}

static int finish_output(void) { return tg_cli_output_done("tapegrad vocab", 0); }

/* The next line of stdin in *line, *len its length without "\n" or "\r\n": tg_afile_getline's
 * count, or its code at the end or on an error; a line of more than TG_LINE_MAX_BYTES, its end
 * aside, is -2 (a line of exactly the limit is read, as by the other text readers). */
static long stdin_line(char **line, size_t *cap, size_t *len) {
    long n = tg_afile_getline(line, cap, stdin, TG_LINE_MAX_BYTES + 2);   /* + "\r\n" */
    if (n < 0) return n;
    size_t k = (size_t)n;
    if (k && (*line)[k - 1] == '\n') k--;
    if (k && (*line)[k - 1] == '\r') k--;
    if (k > TG_LINE_MAX_BYTES) return -2;
    *len = k;
    return n;
}

/* After a tg_afile_getline loop that read `lines` lines: a line over the limit, no memory or a read
 * error (stdin a folder, EIO: getline ends there as at the end) is an error (1) naming the line
 * after them, the end is not. */
static int stdin_line_error(const char *cmd, long n, size_t lines) {
    if (n == -1 && ferror(stdin)) {
        fprintf(stderr, "tapegrad vocab %s: <stdin>:%zu: read error: %s\n", cmd, lines + 1, strerror(errno));
        return 1;
    }
    if (n == -2)
        fprintf(stderr, "tapegrad vocab %s: <stdin>:%zu: a line longer than %zu bytes (an endless input?): "
                        "refused\n", cmd, lines + 1, TG_LINE_MAX_BYTES);
    else if (n == -3)
        fprintf(stderr, "tapegrad vocab %s: <stdin>:%zu: out of memory\n", cmd, lines + 1);
    return n < -1;
}

/* 3 if line line_no of stdin starts with a UTF-8 byte-order mark that is no text (the first
 * line, as the corpus and text readers drop it), else 0. */
static size_t skip_bom(const char *line, size_t len, size_t line_no) {
    return line_no == 1 && len >= 3 && !memcmp(line, "\xEF\xBB\xBF", 3) ? 3 : 0;
}

static int cmd_encode(int argc, char **argv) {
    static const int allowed[] = {OPT_VOCAB, OPT_IDS, 0};
    vocab_args a;
    int rc = parse_args(argc, argv, allowed, &a);
    if (rc) return rc;
    if (a.help) { fputs(usage_text, stdout); return 0; }
    tg_bpe *bpe;
    if ((rc = load_vocab(&a, &bpe)) != 0) return rc;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    tg_ids ids = {0};
    tg_str piece = {0};
    tg_err err;
    size_t line_no = 0;
    size_t len;
    while (rc == 0 && (n = stdin_line(&line, &cap, &len)) >= 0) {
        size_t bom = skip_bom(line, len, ++line_no);
        if (memchr(line, '\r', len)) {
            fprintf(stderr, "tapegrad vocab encode: <stdin>:%zu: %s\n", line_no, TG_LINES_CR_HINT);
            rc = 1;
            break;
        }
        ids.n = 0;
        if (tg_bpe_encode(bpe, line + bom, len - bom, &ids, &err) != TG_OK) {
            fprintf(stderr, "tapegrad vocab encode: <stdin>:%zu: %s\n", line_no, err.msg);
            rc = 1;
            break;
        }
        for (size_t i = 0; i < ids.n; i++) {
            if (i) putchar(' ');
            if (a.ids) {
                printf("%d", (int)ids.v[i]);
            } else {
                if (tg_bpe_piece_str(bpe, ids.v[i], &piece, &err) != TG_OK) {
                    fprintf(stderr, "tapegrad vocab encode: %s\n", err.msg);
                    rc = 1;
                    break;
                }
                fwrite(piece.s, 1, piece.n, stdout);
            }
        }
        putchar('\n');
    }
    if (rc == 0) rc = stdin_line_error("encode", (long)n, line_no);
    free(line);
    tg_ids_free(&ids);
    tg_str_free(&piece);
    tg_bpe_free(bpe);
    return rc ? rc : finish_output();
}

/* The pieces (or, with ids, the ids) of line line_no of stdin, of len bytes, appended to ids.
 * 0, or 1 after the message naming the line. */
static int read_ids(const tg_bpe *bpe, bool by_id, const char *line, size_t len, size_t line_no,
                    tg_ids *ids) {
    for (size_t i = skip_bom(line, len, line_no); i < len;) {
        if (line[i] == ' ' || line[i] == '\t') { i++; continue; }
        size_t j = i;
        while (j < len && line[j] != ' ' && line[j] != '\t') j++;
        long id = -1;
        if (by_id) {
            char tok[32];
            size_t k = j - i < sizeof tok - 1 ? j - i : sizeof tok - 1;
            memcpy(tok, line + i, k);
            tok[k] = '\0';
            if (j - i >= sizeof tok || !tg_arg_long(tok, 0, tg_bpe_vocab_size(bpe) - 1, &id)) id = -1;
        } else {
            id = tg_bpe_piece_id(bpe, line + i, j - i);
        }
        if (id < 0) {
            fprintf(stderr, "tapegrad vocab decode: <stdin>:%zu: unknown %s '", line_no,
                    by_id ? "id" : "piece");
            tg_fput_shown(stderr, line + i, j - i > 80 ? 80 : j - i);   /* (an ESC: escaped) */
            fprintf(stderr, "' (expected %s)\n",
                    by_id ? "an id of this vocabulary" : "a piece as 'vocab encode' prints it; --ids for ids");
            return 1;
        }
        if (ids->n == ids->cap) {
            size_t nc = ids->cap ? ids->cap * 2 : 64;
            int32_t *q = realloc(ids->v, nc * sizeof *q);
            if (!q) { fprintf(stderr, "tapegrad vocab decode: out of memory\n"); return 1; }
            ids->v = q;
            ids->cap = nc;
        }
        ids->v[ids->n++] = (int32_t)id;
        i = j;
    }
    return 0;
}

/* One line of UTF-8 text out for each line in: what hand-made byte pieces make of a line break,
 * another control character (NUL, ESC) or a byte that is no UTF-8 is shown as \xNN. */
static void put_text_line(const tg_str *text) {
    for (size_t k = 0; k < text->n;) {
        uint32_t cp = 0;
        int m = tg_utf8_next(text->s + k, text->n - k, &cp);
        if (m == 0 || (cp < 0x20 && cp != '\t') || (cp >= 0x7F && cp <= 0x9F)) {
            for (int j = 0; j < (m ? m : 1); j++) printf("\\x%02x", (unsigned char)text->s[k + (size_t)j]);
        } else {
            fwrite(text->s + k, 1, (size_t)m, stdout);
        }
        k += m > 0 ? (size_t)m : 1;
    }
    putchar('\n');
}

static int cmd_decode(int argc, char **argv) {
    static const int allowed[] = {OPT_VOCAB, OPT_IDS, 0};
    vocab_args a;
    int rc = parse_args(argc, argv, allowed, &a);
    if (rc) return rc;
    if (a.help) { fputs(usage_text, stdout); return 0; }
    tg_bpe *bpe;
    if ((rc = load_vocab(&a, &bpe)) != 0) return rc;
    char *line = NULL;
    size_t cap = 0, line_no = 0;
    ssize_t n;
    tg_ids ids = {0};
    tg_str text = {0};
    tg_err err;
    size_t len;
    while (rc == 0 && (n = stdin_line(&line, &cap, &len)) >= 0) {
        line_no++;
        line[len] = '\0';
        if (memchr(line, '\r', len)) {
            fprintf(stderr, "tapegrad vocab decode: <stdin>:%zu: %s\n", line_no, TG_LINES_CR_HINT);
            rc = 1;
            break;
        }
        ids.n = 0;
        if ((rc = read_ids(bpe, a.ids, line, len, line_no, &ids)) != 0) break;
        if (tg_bpe_decode(bpe, ids.v, ids.n, &text, &err) != TG_OK) {
            fprintf(stderr, "tapegrad vocab decode: <stdin>:%zu: %s\n", line_no, err.msg);
            rc = 1;
            break;
        }
        put_text_line(&text);
    }
    if (rc == 0) rc = stdin_line_error("decode", (long)n, line_no);
    free(line);
    tg_ids_free(&ids);
    tg_str_free(&text);
    tg_bpe_free(bpe);
    return rc ? rc : finish_output();
}

/* What `vocab bench` measured: the times of each run, in seconds. */
typedef struct {
    double read, learn[100], cold[100], warm[100];
    long long pieces;                   /* of one encoding of both sides */
    int32_t merges, vocab;
    size_t pairs;
} vocab_bench;

/* a->repeat runs of learning the merges of c, then encoding both sides twice (cold: the word
 * cache starts empty; warm: a second pass over the same text). 0, or 1 after the message. */
static int bench_runs(const vocab_args *a, const tg_corpus *c, vocab_bench *b) {
    tg_ids ids = {0};
    tg_err err;
    int rc = 0;
    for (long r = 0; r < a->repeat && rc == 0; r++) {
        tg_bpe *bpe;
        double s = now_s();
        tg_bpe_learn_opts lo = {.merges = (int32_t)a->merges};
        if (tg_bpe_learn(&bpe, c, &lo, &err) != TG_OK) {
            fprintf(stderr, "tapegrad vocab bench: %s\n", err.msg);
            rc = 1;
            break;
        }
        b->learn[r] = now_s() - s;
        b->merges = tg_bpe_n_merges(bpe);
        b->vocab = tg_bpe_vocab_size(bpe);
        for (int pass = 0; pass < 2 && rc == 0; pass++) {
            b->pieces = 0;
            s = now_s();
            for (size_t i = 0; i < c->n && rc == 0; i++) {
                const char *side[2] = {c->src[i], c->tgt[i]};
                for (int k = 0; k < 2; k++) {
                    ids.n = 0;
                    if (tg_bpe_encode(bpe, side[k], strlen(side[k]), &ids, &err) != TG_OK) {
                        fprintf(stderr, "tapegrad vocab bench: %s\n", err.msg);
                        rc = 1;
                        break;
                    }
                    b->pieces += (long long)ids.n;
                }
            }
            (pass == 0 ? b->cold : b->warm)[r] = now_s() - s;
        }
        tg_bpe_free(bpe);
    }
    tg_ids_free(&ids);
    return rc;
}

/* " (t0, t1, ...)" of n times. */
static void put_times(const double *t, long n) {
    printf(" (");
    for (long r = 0; r < n; r++) printf("%s%.3f", r ? ", " : "", t[r]);
    printf(")");
}

static int cmd_bench(int argc, char **argv) {
    static const int allowed[] = {OPT_DATA, OPT_MERGES, OPT_REPEAT, OPT_JSON, 0};
    vocab_args a;
    int rc = parse_args(argc, argv, allowed, &a);
    if (rc) return rc;
    if (a.help) { fputs(usage_text, stdout); return 0; }
    if (!a.data) return usage_error("vocab bench needs --data FILE.tsv");
    tg_corpus c;
    vocab_bench b = {0};
    double t0 = now_s();
    if ((rc = read_corpus(&a, &c)) != 0) return rc;
    b.read = now_s() - t0;
    b.pairs = c.n;
    rc = bench_runs(&a, &c, &b);
    tg_corpus_free(&c);
    if (rc) return rc;
    size_t runs = (size_t)a.repeat;
    double med_l = tg_median(b.learn, runs), med_c = tg_median(b.cold, runs);
    double med_w = tg_median(b.warm, runs);
    if (a.json) {
        printf("{\"data\": ");
        tg_json_str(stdout, a.data);
        printf(", \"pairs\": %zu, \"merges\": %d, \"vocab\": %d, \"repeat\": %ld, "
               "\"read_s\": %.4f, \"learn_s\": %.4f, \"encode_cold_s\": %.4f, \"encode_warm_s\": %.4f, "
               "\"pieces\": %lld}\n",
               b.pairs, (int)b.merges, (int)b.vocab, a.repeat, b.read, med_l, med_c, med_w,
               b.pieces);
    } else {
        printf("data %s: %zu pairs, read in %.3f s\n", a.data, b.pairs, b.read);
        printf("learn %d merges (vocabulary %d): median %.3f s over %ld runs", (int)b.merges,
               (int)b.vocab, med_l, a.repeat);
        put_times(b.learn, a.repeat);
        printf("\nencode both sides, %lld pieces: cold cache median %.3f s", b.pieces, med_c);
        put_times(b.cold, a.repeat);
        printf(", warm cache median %.3f s", med_w);
        put_times(b.warm, a.repeat);
        printf("\n");
    }
    return finish_output();
}

int tg_cmd_vocab(int argc, char **argv) {
    if (argc < 2) return usage_error("missing the action: learn, encode, decode or bench");
    const char *act = argv[1];
    if (!strcmp(act, "--help") || !strcmp(act, "-h") || !strcmp(act, "help")) {
        fputs(usage_text, stdout);
        return 0;
    }
    if (!strcmp(act, "learn")) return cmd_learn(argc - 1, argv + 1);
    if (!strcmp(act, "encode")) return cmd_encode(argc - 1, argv + 1);
    if (!strcmp(act, "decode")) return cmd_decode(argc - 1, argv + 1);
    if (!strcmp(act, "bench")) return cmd_bench(argc - 1, argv + 1);
    char msg[128];
    snprintf(msg, sizeof msg, "unknown action '%.60s' (expected learn, encode, decode or bench)", act);
    return usage_error(msg);
}

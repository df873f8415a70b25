/* char_lm.c: a decoder-only (causal) Transformer language model over the bytes of any text file,
 * built from the public nn blocks (embedding, sinusoidal positions, pre-LN blocks of causal
 * multi-head attention and feed-forward, output tied to the embedding), trained with Adam and a
 * warmup schedule, saved and resumed through the checkpoint container, and sampled after training.
 *
 *   build/examples/example_char_lm --text examples/data/tiny.txt --steps 300 --save lm.ckpt
 *   build/examples/example_char_lm --text examples/data/tiny.txt --steps 600 --resume lm.ckpt
 *
 * A resumed run continues exactly (parameters, Adam moments, step and dropout stream are in the
 * checkpoint; batches are a function of the seed and the step): 300 + 300 steps give the same
 * bits as 600. Exit codes: 0 done, 1 failure (message on stderr), 2 usage. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tapegrad.h>

#define V 256          /* bytes */
#define MAX_LAYERS 8

typedef struct {
    const char *text, *save, *resume;
    int d, heads, d_ff, layers, T, B, threads, sample;
    long steps, warmup;
    double lr, dropout;
    uint64_t seed;
} lm_opts;

typedef struct {
    tg_mha attn;
    tg_ffn ffn;
    tg_norm n1, n2;
} lm_block;

typedef struct {
    lm_opts o;
    tg_model_config attn;      /* what attention reads: sizes, dropout, the paper's switches */
    tg_params *P;
    tg_tensor *emb;            /* (V, d), also the output projection */
    lm_block blk[MAX_LAYERS];
    tg_norm norm;              /* final LayerNorm of pre-LN */
    double *pe;                /* (T, d) positions */
} lm;

/* ---- the model ---------------------------------------------------------------------------- */

static bool lm_declare(lm *m, tg_err *err) {
    const lm_opts *o = &m->o;
    m->attn = tg_model_config_default();
    m->attn.d_model = o->d;
    m->attn.heads = o->heads;
    m->attn.dropout = o->dropout;
    m->P = tg_params_new();
    m->pe = tg_positions_new(o->T, o->d);
    if (!m->P || !m->pe) return tg_err_set(err, TG_ERR_NOMEM, "out of memory"), false;
    m->emb = tg_params_add(m->P, "embedding.weight", 2, (int[]){V, o->d});
    bool ok = m->emb != NULL;
    for (int i = 0; ok && i < o->layers; i++) {
        char p[4][32];
        snprintf(p[0], 32, "blocks.%d.attn.", i);
        snprintf(p[1], 32, "blocks.%d.ffn.", i);
        snprintf(p[2], 32, "blocks.%d.norm1.", i);
        snprintf(p[3], 32, "blocks.%d.norm2.", i);
        lm_block *b = &m->blk[i];
        ok = tg_mha_declare(&b->attn, m->P, p[0], &m->attn) &&
             tg_ffn_declare(&b->ffn, m->P, p[1], o->d, o->d_ff) &&
             tg_norm_declare(&b->n1, m->P, p[2], o->d) && tg_norm_declare(&b->n2, m->P, p[3], o->d);
    }
    ok = ok && tg_norm_declare(&m->norm, m->P, "norm.", o->d);
    if (!ok) return tg_err_set(err, TG_ERR_ARG, "%s", tg_params_errmsg(m->P)), false;
    if (tg_params_alloc(m->P, err) != TG_OK) return false;
    tg_nn_init_params(m->P, m->emb, o->seed);   /* Xavier matrices, N(0, 1/d) embedding */
    return true;
}

/* ids (B, T) -> logits (B, T, V): sqrt(d) E[ids] + PE, blocks x + Attn(LN x), x + FFN(LN x). */
static tg_tensor *lm_logits(tg_ctx *ctx, const lm *m, const int32_t *ids, int B, int T) {
    const lm_opts *o = &m->o;
    tg_tensor *x = tg_embedding(ctx, m->emb, ids, 2, (int[]){B, T}, -1);   // (B, T, d)
    tg_tensor *pe = tg_positions_rows(ctx, m->pe, o->d, 0, T);               // (T, d)
    x = tg_add(ctx, tg_scale(ctx, x, sqrt((double)o->d)), pe);
    x = tg_dropout(ctx, x, o->dropout);
    for (int i = 0; i < o->layers; i++) {
        const lm_block *b = &m->blk[i];
        tg_tensor *h = tg_norm_forward(ctx, &b->n1, x);
        h = tg_mha_forward(ctx, &b->attn, &m->attn, h, h, NULL, true, NULL);
        x = tg_add(ctx, x, tg_dropout(ctx, h, o->dropout));
        h = tg_ffn_forward(ctx, &b->ffn, tg_norm_forward(ctx, &b->n2, x), o->dropout, TG_ACT_GELU);
        x = tg_add(ctx, x, tg_dropout(ctx, h, o->dropout));
    }
    x = tg_norm_forward(ctx, &m->norm, x);
    return tg_matmul(ctx, x, m->emb, false, true);                          // (B, T, V)
}

/* ---- data: batch `step` is a function of (seed, step): a resumed run sees the same ones ---- */

static uint64_t mix(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void batch(const unsigned char *text, size_t n, const lm_opts *o, long step, int32_t *in,
                  int32_t *out) {
    for (int b = 0; b < o->B; b++) {
        size_t start = mix(o->seed * 0x9E3779B97F4A7C15ull + (uint64_t)step * 131 + b) % (n - o->T);
        for (int t = 0; t < o->T; t++) {
            in[b * o->T + t] = text[start + t];
            out[b * o->T + t] = text[start + t + 1];
        }
    }
}

/* ---- checkpoint: the store's sections, the Adam state, and ours --------------------------- */

static tg_status lm_save(const lm *m, const tg_adam *opt, long step, tg_rng_state rng,
                         const char *path, tg_err *err) {
    tg_ckpt_writer *w = tg_ckpt_writer_new();
    if (!w) return tg_err_set(err, TG_ERR_NOMEM, "%s: out of memory", path);
    tg_status s = tg_params_write(m->P, w, err);
    if (s == TG_OK) s = tg_ckpt_writer_begin(w, "adam", err);
    if (s == TG_OK) s = tg_adam_state_write(opt, tg_ckpt_writer_sink, w, err);
    tg_ckpt_buf b;
    tg_ckpt_buf_init(&b);
    tg_ckpt_buf_i64(&b, step);
    tg_ckpt_buf_u64(&b, rng.seed);
    tg_ckpt_buf_u64(&b, rng.counter);
    tg_ckpt_buf_u32(&b, (uint32_t)m->o.heads);
    if (s == TG_OK) s = tg_ckpt_writer_add_buf(w, "char_lm", &b, err);
    tg_ckpt_buf_free(&b);
    if (s == TG_OK) s = tg_ckpt_writer_save(w, path, err);
    tg_ckpt_writer_free(w);
    return s;
}

static tg_status lm_load(lm *m, tg_adam *opt, long *step, tg_rng_state *rng, const char *path,
                         tg_err *err) {
    tg_ckpt_reader *r;
    tg_status s = tg_ckpt_reader_open(path, &r, err);
    if (s != TG_OK) return s;
    const void *p;
    size_t n;
    s = tg_params_read(m->P, r, err);   /* names and shapes must match the flags given */
    if (s == TG_OK) s = tg_ckpt_reader_get(r, "adam", &p, &n, err);
    if (s == TG_OK) s = tg_adam_state_load(opt, p, n, err);
    if (s == TG_OK) s = tg_ckpt_reader_get(r, "char_lm", &p, &n, err);
    if (s == TG_OK) {
        tg_ckpt_cur c;
        int64_t st = 0;
        uint32_t heads = 0;
        tg_ckpt_cur_init(&c, p, n, "section 'char_lm'");
        tg_ckpt_cur_i64(&c, &st);
        tg_ckpt_cur_u64(&c, &rng->seed);
        tg_ckpt_cur_u64(&c, &rng->counter);
        tg_ckpt_cur_u32(&c, &heads);
        s = tg_ckpt_cur_finish(&c, err);
        *step = (long)st;
        if (s == TG_OK && heads != (uint32_t)m->o.heads)
            s = tg_err_set(err, TG_ERR_ARG, "%s: trained with --heads %u", path, heads);
    }
    tg_ckpt_reader_free(r);
    return s;
}

/* ---- training and sampling ---------------------------------------------------------------- */

static tg_status train(lm *m, tg_ctx *ctx, const unsigned char *text, size_t n, tg_err *err) {
    const lm_opts *o = &m->o;
    tg_adam_config acfg = tg_adam_config_default();
    tg_adam *opt;
    tg_status s = tg_adam_new(&acfg, tg_params_numel(m->P), &opt, err);
    if (s != TG_OK) return s;
    /* linear warmup to lr, then lr sqrt(warmup / step) */
    tg_schedule sch = tg_schedule_default(TG_SCHEDULE_INVERSE_SQRT);
    sch.lr = o->lr;
    sch.warmup = o->warmup;
    long step = 0;
    tg_rng_state rng = {o->seed, 0};   /* dropout's stream */
    if (o->resume) s = lm_load(m, opt, &step, &rng, o->resume, err);
    if (s == TG_OK) s = tg_schedule_check(&sch, err);
    tg_ctx_set_rng(ctx, rng);
    size_t bt = (size_t)o->B * o->T;
    int32_t *in = malloc(sizeof *in * bt), *out = malloc(sizeof *out * bt);   // (B, T) each
    if (!in || !out) s = tg_err_set(err, TG_ERR_NOMEM, "out of memory");
    while (s == TG_OK && step < o->steps) {
        step++;
        batch(text, n, o, step, in, out);
        tg_tensor *loss = tg_cross_entropy(ctx, lm_logits(ctx, m, in, o->B, o->T), out, 0.0, -1);
        if (tg_backward(ctx, loss) != TG_OK) {
            s = tg_err_set(err, tg_ctx_status(ctx), "step %ld: %s", step, tg_ctx_errmsg(ctx));
            break;
        }
        if (step % 50 == 0 || step == o->steps)
            printf("%sstep %ld loss %.9g\n", step == o->steps ? "final " : "", step,
                   (double)loss->data[0]);
        s = tg_adam_step(opt, tg_params_data(m->P), tg_params_grad(m->P),
                         tg_schedule_lr(&sch, step), tg_ctx_pool(ctx), err);
        tg_params_zero_grad(m->P);
        tg_ctx_reset(ctx);
    }
    if (s == TG_OK && o->save) s = lm_save(m, opt, step, tg_ctx_rng(ctx), o->save, err);
    free(in);
    free(out);
    tg_adam_free(opt);
    return s;
}

/* n bytes after the text's first one, each drawn from softmax(logits / 0.8) of the last T. */
static tg_status sample(const lm *m, tg_ctx *ctx, const unsigned char *text, int n, tg_err *err) {
    const lm_opts *o = &m->o;
    int32_t *ids = malloc(sizeof *ids * (size_t)(n + 1));
    if (!ids) return tg_err_set(err, TG_ERR_NOMEM, "out of memory");
    tg_ctx_set_grad_enabled(ctx, false);   /* no tape, no gradients */
    tg_ctx_set_training(ctx, false);       /* no dropout */
    ids[0] = text[0];
    uint64_t rng = o->seed;
    tg_status s = TG_OK;
    for (int len = 1; len <= n && s == TG_OK; len++) {
        int T = len < o->T ? len : o->T;
        tg_tensor *logits = lm_logits(ctx, m, ids + len - T, 1, T);         // (1, T, V)
        if (!logits) {
            s = tg_err_set(err, tg_ctx_status(ctx), "sample: %s", tg_ctx_errmsg(ctx));
            break;
        }
        const tg_float *row = logits->data + (size_t)(T - 1) * V;
        double p[V], max = row[0], sum = 0;
        for (int v = 1; v < V; v++) max = fmax(max, row[v]);
        for (int v = 0; v < V; v++) sum += p[v] = exp((row[v] - max) / 0.8);
        double u = (double)(mix(++rng * 0x9E3779B97F4A7C15ull) >> 11) / 9007199254740992.0 * sum;
        int v = 0;
        while (v < V - 1 && (u -= p[v]) > 0) v++;
        ids[len] = v;
        tg_ctx_reset(ctx);
    }
    for (int i = 0; s == TG_OK && i <= n; i++) putchar(ids[i]);
    if (s == TG_OK) putchar('\n');
    free(ids);
    return s;
}

/* ---- the command line ----------------------------------------------------------------------- */

static const char usage[] =
    "usage: example_char_lm --text FILE [options]\n"
    "  --text FILE      any text file (bytes are the tokens; at least --context + 2 of them,\n"
    "                   at most 64 MiB)\n"
    "  --steps N        train until update N (default 300; with --resume: the total)\n"
    "  --save PATH      checkpoint after training (parameters, Adam, step, dropout stream)\n"
    "  --resume PATH    continue from a checkpoint made with the same model flags\n"
    "  --sample N       bytes to sample after training (default 200; 0: none)\n"
    "  --d-model N --heads N --d-ff N --layers N   (default 64, 4, 256, 2)\n"
    "  --context N --batch N     tokens per sequence and sequences per step (default 64, 16)\n"
    "  --lr X --warmup N         peak learning rate and linear warmup steps (default 3e-3, 100)\n"
    "  --dropout X --seed N --threads N           (default 0.1, 1, 1)\n";

static int parse(int argc, char **argv, lm_opts *o) {
    *o = (lm_opts){.d = 64, .heads = 4, .d_ff = 256, .layers = 2, .T = 64, .B = 16,
                   .threads = 1, .sample = 200, .steps = 300, .warmup = 100, .lr = 3e-3,
                   .dropout = 0.1, .seed = 1};
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(f, "--help") || !strcmp(f, "-h")) { fputs(usage, stdout); exit(0); }
        if (!v) { fprintf(stderr, "char_lm: %s needs a value\n%s", f, usage); return 2; }
        i++;
        char *end = NULL;
        double x = strtod(v, &end);
        bool num = end && end != v && !*end;
        if (!strcmp(f, "--text")) o->text = v;
        else if (!strcmp(f, "--save")) o->save = v;
        else if (!strcmp(f, "--resume")) o->resume = v;
        else if (!num) {
            fprintf(stderr, "char_lm: %s %s: unknown flag or not a number\n%s", f, v, usage);
            return 2;
        } else if (strcmp(f, "--lr") && strcmp(f, "--dropout") && !(x == floor(x) && fabs(x) <= 1e9)) {
            fprintf(stderr, "char_lm: %s %s: not a whole number up to 1e9\n%s", f, v, usage);
            return 2;   /* (a cast of a larger one to int is undefined) */
        } else if (!strcmp(f, "--seed") && x < 0) {
            fprintf(stderr, "char_lm: --seed %s: not a whole number from 0 to 1e9\n%s", v, usage);
            return 2;   /* (a cast of a negative double to uint64_t is undefined) */
        }
        else if (!strcmp(f, "--steps")) o->steps = (long)x;
        else if (!strcmp(f, "--sample")) o->sample = (int)x;
        else if (!strcmp(f, "--d-model")) o->d = (int)x;
        else if (!strcmp(f, "--heads")) o->heads = (int)x;
        else if (!strcmp(f, "--d-ff")) o->d_ff = (int)x;
        else if (!strcmp(f, "--layers")) o->layers = (int)x;
        else if (!strcmp(f, "--context")) o->T = (int)x;
        else if (!strcmp(f, "--batch")) o->B = (int)x;
        else if (!strcmp(f, "--lr")) o->lr = x;
        else if (!strcmp(f, "--warmup")) o->warmup = (long)x;
        else if (!strcmp(f, "--dropout")) o->dropout = x;
        else if (!strcmp(f, "--seed")) o->seed = (uint64_t)x;
        else if (!strcmp(f, "--threads")) o->threads = (int)x;
        else { fprintf(stderr, "char_lm: unknown flag %s\n%s", f, usage); return 2; }
    }
    bool ok = o->text && o->d >= 2 && o->d % 2 == 0 && o->heads >= 1 && o->d % o->heads == 0 &&
              o->d_ff >= 1 && o->layers >= 1 && o->layers <= MAX_LAYERS && o->T >= 1 &&
              o->B >= 1 && o->steps >= 0 && o->sample >= 0 && o->warmup >= 1 && o->lr >= 0 &&
              o->dropout >= 0 && o->dropout < 1 && o->threads >= 1;
    if (!ok) fprintf(stderr, "char_lm: --text is required; sizes must be positive, --d-model even "
                             "and divisible by --heads, --layers <= %d, --dropout in [0, 1)\n%s",
                     MAX_LAYERS, usage);
    return ok ? 0 : 2;
}

/* The text is read whole: at most TEXT_MAX bytes (a larger file, or one without end such as
 * /dev/zero, is refused rather than read until memory runs out). */
#define TEXT_MAX ((size_t)64 << 20)

static unsigned char *read_file(const char *path, size_t *n, tg_err *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return tg_err_set(err, TG_ERR_IO, "%s: cannot open", path), NULL;
    unsigned char *buf = NULL;
    size_t cap = 0;
    bool nomem = false, big = false;
    *n = 0;
    for (;;) {
        if (*n == cap) {
            if (cap > TEXT_MAX) { big = true; break; }
            size_t want = cap ? 2 * cap : 1 << 16;
            if (want > TEXT_MAX + 1) want = TEXT_MAX + 1; /* one byte more tells "too long" */
            unsigned char *b = realloc(buf, want);
            if (!b) { nomem = true; break; }
            buf = b, cap = want;
        }
        size_t got = fread(buf + *n, 1, cap - *n, f);
        *n += got;
        if (got == 0) break;
    }
    bool bad = ferror(f) || !buf;
    fclose(f);
    if (big || nomem || bad) {
        free(buf), buf = NULL;
        if (big) tg_err_set(err, TG_ERR_ARG, "%s: over %zu MiB, the most this example reads", path,
                            TEXT_MAX >> 20);
        else if (nomem) tg_err_set(err, TG_ERR_NOMEM, "%s: out of memory after %zu bytes", path, *n);
        else tg_err_set(err, TG_ERR_IO, "%s: cannot read", path);
    }
    return buf;
}

/* Output that cannot be written (a full disk, a closed pipe) is a failure, not a success. */
static bool stdout_ok(void) {
    bool ok = !ferror(stdout);
    if (fclose(stdout) != 0) ok = false;
    if (!ok) fprintf(stderr, "char_lm: cannot write the output (stdout)\n");
    return ok;
}

int main(int argc, char **argv) {
    lm m = {0};
    int rc = parse(argc, argv, &m.o);
    if (rc) return rc;
    tg_err err;
    size_t n = 0;
    unsigned char *text = read_file(m.o.text, &n, &err);
    tg_status s = text ? TG_OK : TG_ERR_IO;
    if (s == TG_OK && n < (size_t)m.o.T + 2)
        s = tg_err_set(&err, TG_ERR_ARG, "%s: %zu bytes, --context %d needs at least %d",
                       m.o.text, n, m.o.T, m.o.T + 2);
    tg_ctx *ctx = tg_ctx_new(&(tg_ctx_opts){.threads = m.o.threads, .seed = m.o.seed});
    if (s == TG_OK && !ctx) s = tg_err_set(&err, TG_ERR_NOMEM, "cannot create a context");
    if (s == TG_OK && !lm_declare(&m, &err)) s = TG_ERR_ARG;
    if (s == TG_OK) {
        printf("char_lm: %s, %zu bytes, %lld parameters\n", m.o.text, n,
               (long long)tg_params_numel(m.P));
        s = train(&m, ctx, text, n, &err);
    }
    if (s == TG_OK && m.o.sample > 0) s = sample(&m, ctx, text, m.o.sample, &err);
    if (s != TG_OK) fprintf(stderr, "char_lm: %s\n", err.msg);
    if (ctx) tg_ctx_free(ctx);
    tg_params_free(m.P);
    free(m.pe);
    free(text);
    bool out_ok = stdout_ok();
    return s == TG_OK && out_ok ? 0 : 1;
}

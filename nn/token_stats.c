/* token_stats.c: what a model's next-token distributions look like under teacher forcing, beside
 * the NLL: how often the most probable token is the target (accuracy), how spread the distribution
 * is (entropy) and how sure the model is of its first choice (confidence). Two models with the same
 * accuracy can differ in NLL by being less sure of right answers or surer of wrong ones; these
 * tell which. At a temperature T they are those of softmax(logits / T), the post-hoc calibration
 * of Guo et al. 2017: the T of least NLL says how much of a model's NLL is miscalibration.
 * `tapegrad eval` prints them. */
#include <math.h>

#include "nn/layers.h"

void tg_token_stats_rows(const tg_float *logits, int64_t rows, int64_t V, const int32_t *targets,
                         int ignore, double temperature, tg_token_stats *acc) {
    const double inv = 1 / temperature;
    for (int64_t r = 0; r < rows; r++) {
        int t = targets[r];
        if (t == ignore || t < 0 || t >= V) continue;
        const tg_float *z = logits + r * V;                               // (V)
        int64_t best = 0;
        for (int64_t v = 1; v < V; v++)
            if (z[v] > z[best]) best = v;   /* the lowest id among ties; T > 0 keeps the order */
        double mx = z[best], sum = 0, zsum = 0;
        for (int64_t v = 0; v < V; v++) {
            double u = ((double)z[v] - mx) * inv;                         // (z_v - max) / T
            double e = exp(u);
            sum += e;
            zsum += e * u;
        }
        /* p_v = e_v / sum; H = -sum p_v log p_v = log(sum) - sum p_v u_v */
        double log_sum = log(sum);
        double nll = log_sum - ((double)z[t] - mx) * inv;
        acc->tokens++;
        acc->correct += best == t;
        int64_t above = 0;   /* tokens more probable than the target */
        for (int64_t v = 0; v < V && above < 5; v++) above += z[v] > z[t];
        acc->top5 += above < 5;
        acc->nll += nll;
        if (best != t) acc->nll_wrong += nll;
        acc->entropy += log_sum - zsum / sum;
        acc->confidence += 1 / sum;                                       // p_best
    }
}

static double per(double sum, int64_t n) { return n > 0 ? sum / (double)n : NAN; }

tg_token_means tg_token_stats_means(const tg_token_stats *s) {
    return (tg_token_means){
        .nll = per(s->nll, s->tokens),
        .accuracy = per((double)s->correct, s->tokens),
        .top5 = per((double)s->top5, s->tokens),
        .nll_right = per(s->nll - s->nll_wrong, s->correct),
        .nll_wrong = per(s->nll_wrong, s->tokens - s->correct),
        .entropy = per(s->entropy, s->tokens),
        .confidence = per(s->confidence, s->tokens),
    };
}

tg_status tg_model_token_stats(tg_model *m, tg_ctx *ctx, const int32_t *src, const int32_t *tgt_in,
                               const int32_t *tgt_out, int B, int S, int T, double temperature,
                               tg_token_stats *acc, tg_err *err) {
    if (!(temperature > 0 && isfinite(temperature)))
        return tg_err_set(err, TG_ERR_ARG, "token statistics: temperature %g is not a positive number", temperature);
    tg_status st = tg_model_check_ids(m, "target", tgt_out, B, T, err);
    tg_tensor *logits;                                                    // (B, T, V)
    if (!st) st = tg_model_logits(m, ctx, src, tgt_in, B, S, T, &logits, err);
    if (st) return st;
    tg_token_stats_rows(logits->data, (int64_t)B * T, m->cfg.vocab, tgt_out, TG_PAD_ID, temperature, acc);
    return TG_OK;
}

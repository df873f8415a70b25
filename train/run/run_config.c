/* run_config.c: from a run's settings to the model, optimiser and schedule configs. */
#include <string.h>

#include "train/run/run.h"

tg_status tg_run_config_check_limits(const tg_run_config *c, tg_err *err) {
    const int limit = TG_RUN_MAX_PIECES;
    if (c->task[0] && c->task_max_len > limit)
        return tg_err_set(err, TG_ERR_ARG, "--task-max-len %d: the model has %d positions, so a side holds at most "
                          "%d symbols (plus bos/eos)", c->task_max_len, TG_RUN_MAX_POSITIONS, limit);
    if (!c->task[0] && c->max_len > limit)
        return tg_err_set(err, TG_ERR_ARG, "--max-len %d: the model has %d positions, so a side holds at most "
                          "%d pieces (plus bos/eos)", c->max_len, TG_RUN_MAX_POSITIONS, limit);
    return TG_OK;
}

tg_status tg_run_model_config(const tg_run_config *c, int vocab, tg_model_config *out, tg_err *err) {
    tg_model_config m = tg_model_config_default();
    m.vocab = vocab;
    m.d_model = c->d_model;
    m.heads = c->heads;
    m.d_ff = c->d_ff;
    m.enc_layers = c->enc_layers;
    m.dec_layers = c->dec_layers;
    m.max_len = TG_RUN_MAX_POSITIONS;
    m.dropout = c->dropout;
    m.label_smoothing = c->label_smoothing;
    m.tie_embeddings = !c->no_tie_embeddings;
    tg_status st = tg_norm_place_parse(c->norm, &m.norm, err);
    if (st == TG_OK) st = tg_activation_parse(c->ffn_activation, &m.ffn_activation, err);
    if (st == TG_OK) st = tg_activation_parse(c->attn_activation, &m.attn_activation, err);
    if (st == TG_OK) st = tg_attn_place_parse(c->attn_activation_at, &m.attn_activation_at, err);
    if (st == TG_OK) st = tg_attn_gate_parse(c->attn_gate, &m.attn_gate, err);
    if (st == TG_OK)
        st = tg_activation_parse(c->residual_activation, &m.residual_activation, err);
    if (st == TG_OK) st = tg_model_config_validate(&m, err);
    if (st == TG_OK) *out = m;
    return st;
}

tg_status tg_run_schedule(const tg_run_config *c, const tg_model_config *m, tg_schedule *out, tg_err *err) {
    tg_schedule_kind kind;
    tg_status st = tg_schedule_kind_parse(c->schedule, &kind, err);
    if (st != TG_OK) return st;
    tg_schedule s = tg_schedule_default(kind);
    s.lr = c->lr;
    s.factor = c->lr;            /* noam: --lr is the factor */
    s.init_lr = c->init_lr;
    s.min_lr = c->min_lr;
    s.warmup = c->warmup;
    s.d_model = m->d_model;
    /* the schedule's own check, in the flags' words (the rest, in its own words, below) */
    const char *name = tg_schedule_kind_name(kind);
    if (kind == TG_SCHEDULE_NOAM && !(c->lr > 0))
        return tg_err_set(err, TG_ERR_ARG, "--lr %g: --schedule noam takes --lr as its factor, which must be above 0",
                          c->lr);
    if ((kind == TG_SCHEDULE_NOAM || kind == TG_SCHEDULE_INVERSE_SQRT) && c->warmup < 1)
        return tg_err_set(err, TG_ERR_ARG, "--warmup %d: --schedule %s needs a warmup of 1 step or more", c->warmup,
                          name);
    if (kind == TG_SCHEDULE_COSINE) {
        if (c->max_steps <= 0 && !c->fit_steps)
            return tg_err_set(err, TG_ERR_ARG, "--schedule cosine decays over --max-steps: give --max-steps "
                              "(or --fit-steps with --time-limit)");
        if (c->max_steps > 0 && c->max_steps <= c->warmup)
            return tg_err_set(err, TG_ERR_ARG, "--warmup %d, --max-steps %lld: --schedule cosine decays after the "
                              "warmup, so --max-steps must be above --warmup", c->warmup, (long long)c->max_steps);
        if (c->min_lr > c->lr)
            return tg_err_set(err, TG_ERR_ARG, "--min-lr %g is above --lr %g: --schedule cosine decays from --lr "
                              "down to --min-lr", c->min_lr, c->lr);
        /* until --fit-steps sets it (during the warmup, whose rates do not depend on it) */
        s.total = c->max_steps > 0 ? c->max_steps : (int64_t)1 << 50;
    }
    st = tg_schedule_check(&s, err);
    if (st == TG_OK) *out = s;
    return st;
}

tg_status tg_run_adam_config(const tg_run_config *c, tg_adam_config *out, tg_err *err) {
    tg_adam_config a = tg_adam_config_default();
    a.beta1 = c->beta1;
    a.beta2 = c->beta2;
    a.eps = c->adam_eps;
    a.weight_decay = c->weight_decay;
    a.decoupled = !strcmp(c->optimizer, "adamw");
    tg_status st = tg_adam_config_check(&a, err);
    if (st == TG_OK) *out = a;
    return st;
}

/* schedule.c: learning rate as a pure function of the (1-based) update number.
 *
 * noam (Vaswani et al. 2017, section 5.3):
 *   lr = factor * d_model^-0.5 * min(step^-0.5, step * warmup^-1.5)
 *   It rises linearly for warmup steps, peaks at factor * (d_model * warmup)^-0.5, then decays
 *   as step^-0.5.
 *
 * inverse_sqrt (fairseq's InverseSquareRootSchedule, fairseq/optim/lr_scheduler/
 * inverse_square_root_schedule.py):
 *   step <  warmup:  lr = init_lr + step * (lr - init_lr) / warmup
 *   step >= warmup:  lr = lr * sqrt(warmup) * step^-0.5   (= lr * sqrt(warmup / step))
 *   fairseq evaluates this formula at num_updates, the count of updates already done (0 before
 *   the first), so its update k runs with the value at k - 1 and its first update uses init_lr
 *   itself. Here the argument is the number of the update about to run (1-based), so the first
 *   update already gets init_lr + (lr - init_lr) / warmup and update `warmup` gets the peak: the
 *   same curve shifted by one step.
 *
 * cosine: the same linear warmup from init_lr (step 0) to lr (step warmup), then
 *   lr(step) = min_lr + (lr - min_lr) * (1 + cos(pi * (step - warmup) / (total - warmup))) / 2
 *   until step total, min_lr after.
 *
 * constant: lr.
 */
#include "optim/optim.h"

#include <math.h>
#include <string.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

static const char *const kind_names[TG_SCHEDULE_COUNT] = {"noam", "inverse-sqrt", "cosine",
                                                          "constant"};

const char *tg_schedule_kind_name(tg_schedule_kind kind) {
    return (unsigned)kind < TG_SCHEDULE_COUNT ? kind_names[kind] : "?";
}

tg_status tg_schedule_kind_parse(const char *name, tg_schedule_kind *out, tg_err *err) {
    if (!name) return tg_err_set(err, TG_ERR_ARG, "schedule: no name given");
    for (int k = 0; k < TG_SCHEDULE_COUNT; k++) {
        if (strcmp(name, kind_names[k]) == 0) {
            *out = (tg_schedule_kind)k;
            return TG_OK;
        }
    }
    if (strcmp(name, "inverse_sqrt") == 0) {  /* fairseq's spelling */
        *out = TG_SCHEDULE_INVERSE_SQRT;
        return TG_OK;
    }
    return tg_err_set(err, TG_ERR_ARG,
                      "schedule: unknown name \"%s\", expected noam, inverse-sqrt, cosine or "
                      "constant",
                      name);
}

tg_schedule tg_schedule_default(tg_schedule_kind kind) {
    tg_schedule s = {.kind = kind, .lr = 5e-4, .init_lr = 0.0, .min_lr = 0.0, .factor = 1.0,
                     .warmup = 4000, .total = 100000, .d_model = 512};
    if (kind == TG_SCHEDULE_CONSTANT) s.lr = 1e-4;
    return s;
}

static bool nonneg(double x) { return x >= 0.0 && isfinite(x); }

tg_status tg_schedule_check(const tg_schedule *s, tg_err *err) {
    if (!s) return tg_err_set(err, TG_ERR_ARG, "schedule: none given");
    const char *name = tg_schedule_kind_name(s->kind);
    switch (s->kind) {
    case TG_SCHEDULE_NOAM:
        if (!(s->factor > 0.0 && isfinite(s->factor)))
            return tg_err_set(err, TG_ERR_ARG, "schedule noam: factor = %g, expected > 0",
                              s->factor);
        if (s->d_model < 1)
            return tg_err_set(err, TG_ERR_ARG, "schedule noam: d_model = %d, expected >= 1",
                              s->d_model);
        if (s->warmup < 1)
            return tg_err_set(err, TG_ERR_ARG, "schedule noam: warmup = %lld, expected >= 1",
                              (long long)s->warmup);
        return TG_OK;
    case TG_SCHEDULE_INVERSE_SQRT:
    case TG_SCHEDULE_COSINE:
        if (!nonneg(s->lr))
            return tg_err_set(err, TG_ERR_ARG, "schedule %s: lr = %g, expected a finite value >= 0",
                              name, s->lr);
        if (!nonneg(s->init_lr))
            return tg_err_set(err, TG_ERR_ARG,
                              "schedule %s: init_lr = %g, expected a finite value >= 0", name,
                              s->init_lr);
        if (s->warmup < (s->kind == TG_SCHEDULE_COSINE ? 0 : 1))
            return tg_err_set(err, TG_ERR_ARG, "schedule %s: warmup = %lld, expected >= %d", name,
                              (long long)s->warmup, s->kind == TG_SCHEDULE_COSINE ? 0 : 1);
        if (s->kind == TG_SCHEDULE_COSINE) {
            if (!(nonneg(s->min_lr) && s->min_lr <= s->lr))
                return tg_err_set(err, TG_ERR_ARG,
                                  "schedule cosine: min_lr = %g, expected a value in [0, lr = %g]",
                                  s->min_lr, s->lr);
            if (s->total <= s->warmup)
                return tg_err_set(err, TG_ERR_ARG,
                                  "schedule cosine: total = %lld, expected > warmup = %lld",
                                  (long long)s->total, (long long)s->warmup);
        }
        return TG_OK;
    case TG_SCHEDULE_CONSTANT:
        if (!nonneg(s->lr))
            return tg_err_set(err, TG_ERR_ARG,
                              "schedule constant: lr = %g, expected a finite value >= 0", s->lr);
        return TG_OK;
    default:
        return tg_err_set(err, TG_ERR_ARG, "schedule: unknown kind %d", (int)s->kind);
    }
}

static double warmup_lr(const tg_schedule *s, double step) {
    return s->init_lr + step * (s->lr - s->init_lr) / (double)s->warmup;
}

double tg_schedule_lr(const tg_schedule *s, int64_t step) {
    double t = (double)(step < 1 ? 1 : step);
    switch (s->kind) {
    case TG_SCHEDULE_NOAM:
        return s->factor * pow((double)s->d_model, -0.5) *
               fmin(pow(t, -0.5), t * pow((double)s->warmup, -1.5));
    case TG_SCHEDULE_INVERSE_SQRT:
        if (t < (double)s->warmup) return warmup_lr(s, t);
        return s->lr * sqrt((double)s->warmup) * pow(t, -0.5);
    case TG_SCHEDULE_COSINE: {
        if (t <= (double)s->warmup) return warmup_lr(s, t);
        if (t >= (double)s->total) return s->min_lr;
        double progress = (t - (double)s->warmup) / (double)(s->total - s->warmup);
        return s->min_lr + (s->lr - s->min_lr) * 0.5 * (1.0 + cos(M_PI * progress));
    }
    case TG_SCHEDULE_CONSTANT:
        return s->lr;
    default:
        return 0.0;
    }
}

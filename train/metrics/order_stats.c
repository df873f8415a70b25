/* order_stats.c: sorting doubles and their median (see order_stats.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train/metrics/order_stats.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void tg_sort_doubles(double *v, size_t n) {
    if (n > 1) qsort(v, n, sizeof *v, cmp_double);   /* qsort(NULL, 0, ...) is undefined */
}

double tg_median(const double *v, size_t n) {
    double *s = n ? malloc(n * sizeof *s) : NULL;
    if (!s) return NAN;
    memcpy(s, v, n * sizeof *s);
    tg_sort_doubles(s, n);
    double m = n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
    free(s);
    return m;
}

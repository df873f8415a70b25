/* order_stats.h: doubles in ascending order, and the median of measurements (benchmark times,
 * resampled scores). One definition of each for every command that reports them. */
#ifndef TG_ORDER_STATS_H
#define TG_ORDER_STATS_H

#include <stddef.h>

/* v[0 .. n) sorted ascending, in place (a NaN compares equal to everything: leave none in v). */
void tg_sort_doubles(double *v, size_t n);

/* The median of v[0 .. n) (left unchanged): the middle value of a sorted copy, or the mean of the
 * two middle ones when n is even. NaN when n is 0 or the copy cannot be allocated. */
double tg_median(const double *v, size_t n);

#endif

/* Fault curves: page faults against memory size for several replacement
 * policies over one reference string (include/ptelab/policy.h), and their
 * renderings as CSV, a text table and an SVG plot (docs/trace-curve.md). */
#ifndef PTELAB_CURVE_H
#define PTELAB_CURVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ptelab/policy.h"

struct pl_curve {
    uint64_t references; /* length of the reference string */
    uint32_t distinct;   /* distinct pages in it */
    size_t nsizes;
    uint32_t *sizes; /* memory sizes in frames, strictly increasing, >= 1 */
    int npolicies;
    enum pl_policy policies[PL_POLICY_COUNT]; /* column order */
    uint64_t *faults; /* faults[s * npolicies + p]: sizes[s], policies[p] */
};

/* The default memory sizes for a string of distinct pages: every size from
 * 1 to 16, then steps of about 2^(1/4) (a straight line on a log axis), and
 * distinct itself last; nothing when distinct is 0. Returns 0 with a new
 * array (free()) in *sizes and its length in *n, or PL_ENOMEM. */
int pl_curve_default_sizes(uint32_t distinct, uint32_t **sizes, size_t *n);

/* Computes the curve of each of the npolicies policies (no policy twice)
 * over ids[0..n) (every id below npages; npages is the distinct page count
 * reported) at each of the nsizes sizes (strictly increasing, none 0). LRU
 * is computed for all sizes in one pass (pl_lru_curve); the others are
 * simulated once per size. Returns 0 with a new curve in *out (free with
 * pl_curve_free), PL_EINVAL or PL_ENOMEM. */
int pl_curve_compute(const uint32_t *ids, size_t n, uint32_t npages, const enum pl_policy *policies,
                     int npolicies, const uint32_t *sizes, size_t nsizes, struct pl_curve **out);
void pl_curve_free(struct pl_curve *c);

/* Writes the curve as CSV: a header "frames,POLICY,..." and one line per
 * size. Returns 0 or PL_EIO when f reports a write error. */
int pl_curve_write_csv(const struct pl_curve *c, FILE *f);

/* Writes the curve as an aligned text table under a line that gives the
 * reference and distinct page counts. Returns 0 or PL_EIO. */
int pl_curve_write_table(const struct pl_curve *c, FILE *f);

struct pl_curve_svg_options {
    const char *title; /* under the heading, e.g. the input's name; NULL: none */
    bool log_x;        /* memory size on a log2 axis */
};

/* Writes the curve as a standalone SVG image: axes with ticks, labels and
 * titles, one polyline per policy and a legend. Returns 0 or PL_EIO. */
int pl_curve_write_svg(const struct pl_curve *c, FILE *f, const struct pl_curve_svg_options *opt);

#endif

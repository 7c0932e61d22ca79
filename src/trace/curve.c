/* Fault curves of several policies over one reference string, and their
 * CSV, table and SVG renderings (include/ptelab/curve.h). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ptelab/curve.h"
#include "ptelab/error.h"

/* Sizes up to this are all listed by default: small memories are where the
 * curves differ most. */
#define CURVE_DENSE_UP_TO 16u

int pl_curve_default_sizes(uint32_t distinct, uint32_t **sizes, size_t *n)
{
    /* At most 16 dense sizes plus 4 per doubling up to 2^32, plus the last. */
    uint32_t *s = malloc((CURVE_DENSE_UP_TO + 4 * 32 + 1) * sizeof *s);
    if (!s)
        return PL_ENOMEM;
    size_t count = 0;
    uint32_t k = 1;
    while (k < distinct) {
        s[count++] = k;
        if (k < CURVE_DENSE_UP_TO) {
            k++;
        } else {
            /* 2^(1/4) ~ 1.189 ~ 1 + 3/16 + 1/512; good enough for a scale. */
            uint64_t next = (uint64_t)k + (uint64_t)k * 3 / 16 + (uint64_t)k / 512;
            k = next >= distinct ? distinct : (uint32_t)next;
        }
    }
    if (distinct > 0)
        s[count++] = distinct;
    *sizes = s;
    *n = count;
    return 0;
}

void pl_curve_free(struct pl_curve *c)
{
    if (!c)
        return;
    free(c->sizes);
    free(c->faults);
    free(c);
}

int pl_curve_compute(const uint32_t *ids, size_t n, uint32_t npages, const enum pl_policy *policies,
                     int npolicies, const uint32_t *sizes, size_t nsizes, struct pl_curve **out)
{
    if (npolicies < 0 || npolicies > PL_POLICY_COUNT || (nsizes && !sizes))
        return PL_EINVAL;
    bool seen[PL_POLICY_COUNT] = {false};
    for (int p = 0; p < npolicies; p++) {
        if ((unsigned)policies[p] >= PL_POLICY_COUNT || seen[policies[p]])
            return PL_EINVAL;
        seen[policies[p]] = true;
    }
    for (size_t s = 0; s < nsizes; s++)
        if (sizes[s] == 0 || (s > 0 && sizes[s] <= sizes[s - 1]))
            return PL_EINVAL;
    if (nsizes > SIZE_MAX / sizeof(uint64_t) / PL_POLICY_COUNT)
        return PL_ENOMEM;

    struct pl_curve *c = calloc(1, sizeof *c);
    uint64_t *lru = NULL;
    int rc = PL_ENOMEM;
    if (!c)
        return PL_ENOMEM;
    c->references = n;
    c->distinct = npages;
    c->nsizes = nsizes;
    c->npolicies = npolicies;
    memcpy(c->policies, policies, (size_t)npolicies * sizeof *policies);
    c->sizes = malloc((nsizes ? nsizes : 1) * sizeof *c->sizes);
    c->faults = calloc((nsizes ? nsizes : 1) * (size_t)(npolicies ? npolicies : 1), sizeof *c->faults);
    if (!c->sizes || !c->faults)
        goto fail;
    if (nsizes)
        memcpy(c->sizes, sizes, nsizes * sizeof *sizes);

    for (int p = 0; p < npolicies; p++) {
        if (policies[p] == PL_POLICY_LRU) {
            lru = malloc(((size_t)npages + 1) * sizeof *lru);
            if (!lru)
                goto fail;
            rc = pl_lru_curve(ids, n, npages, lru);
            if (rc)
                goto fail;
            for (size_t s = 0; s < nsizes; s++)
                c->faults[s * npolicies + p] = lru[sizes[s] < npages ? sizes[s] : npages];
            continue;
        }
        for (size_t s = 0; s < nsizes; s++) {
            struct pl_policy_result r;
            rc = pl_policy_simulate(policies[p], ids, n, npages, sizes[s], &r, NULL);
            if (rc)
                goto fail;
            c->faults[s * npolicies + p] = r.faults;
        }
    }
    free(lru);
    *out = c;
    return 0;
fail:
    free(lru);
    pl_curve_free(c);
    return rc;
}

/* Returns 0, or PL_EIO when f has seen a write error. */
static int stream_status(FILE *f)
{
    return ferror(f) ? PL_EIO : 0;
}

int pl_curve_write_csv(const struct pl_curve *c, FILE *f)
{
    fputs("frames", f);
    for (int p = 0; p < c->npolicies; p++)
        fprintf(f, ",%s", pl_policy_name(c->policies[p]));
    fputc('\n', f);
    for (size_t s = 0; s < c->nsizes; s++) {
        fprintf(f, "%" PRIu32, c->sizes[s]);
        for (int p = 0; p < c->npolicies; p++)
            fprintf(f, ",%" PRIu64, c->faults[s * c->npolicies + p]);
        fputc('\n', f);
    }
    return stream_status(f);
}

/* Returns the number of decimal digits of v. */
static int digits(uint64_t v)
{
    int d = 1;
    while (v >= 10) {
        v /= 10;
        d++;
    }
    return d;
}

int pl_curve_write_table(const struct pl_curve *c, FILE *f)
{
    fprintf(f, "%" PRIu64 " references, %" PRIu32 " distinct pages; page faults by memory size\n",
            c->references, c->distinct);
    /* Every fault count is at most the number of references. */
    int width = digits(c->references);
    int fw = digits(c->nsizes ? c->sizes[c->nsizes - 1] : 0);
    if (fw < (int)strlen("frames"))
        fw = (int)strlen("frames");
    if (width < (int)strlen("active"))
        width = (int)strlen("active");
    fprintf(f, "%*s", fw, "frames");
    for (int p = 0; p < c->npolicies; p++)
        fprintf(f, "  %*s", width, pl_policy_name(c->policies[p]));
    fputc('\n', f);
    for (size_t s = 0; s < c->nsizes; s++) {
        fprintf(f, "%*" PRIu32, fw, c->sizes[s]);
        for (int p = 0; p < c->npolicies; p++)
            fprintf(f, "  %*" PRIu64, width, c->faults[s * c->npolicies + p]);
        fputc('\n', f);
    }
    return stream_status(f);
}

/* ---- SVG ---- */

/* The drawing's geometry, in SVG user units (pixels). */
#define SVG_WIDTH 760
#define SVG_HEIGHT 460
#define PLOT_LEFT 90   /* room for the y tick labels and title */
#define PLOT_RIGHT 610 /* the legend sits to the right of the plot */
#define PLOT_TOP 50
#define PLOT_BOTTOM 390

/* One colour per policy, fixed so that plots compare at a glance. */
static const char *const policy_colour[PL_POLICY_COUNT] = {
    [PL_POLICY_FIFO] = "#1f77b4",  [PL_POLICY_LRU] = "#ff7f0e", [PL_POLICY_CLOCK] = "#2ca02c",
    [PL_POLICY_ACTIVE] = "#d62728", [PL_POLICY_OPT] = "#9467bd",
};

/* Returns log2(x) for x >= 1, without libm: the exponent from halving, the
 * rest from ln(m) = 2 atanh((m - 1) / (m + 1)) for m in [1, 2). */
static double log2_of(double x)
{
    double e = 0;
    while (x >= 2) {
        x /= 2;
        e += 1;
    }
    double z = (x - 1) / (x + 1), z2 = z * z, term = z, sum = 0;
    for (int i = 1; i < 40; i += 2) {
        sum += term / i;
        term *= z2;
    }
    return e + 2 * sum / 0.69314718055994530942;
}

/* An axis: maps values in [lo, hi] to pixels [p0, p1], linearly or on a
 * log2 scale. */
struct axis {
    double lo, hi, p0, p1;
    bool log;
};

/* Returns the pixel coordinate of value v on a. */
static double axis_map(const struct axis *a, double v)
{
    double t;
    if (a->log)
        t = (log2_of(v) - log2_of(a->lo)) / (log2_of(a->hi) - log2_of(a->lo));
    else
        t = (v - a->lo) / (a->hi - a->lo);
    return a->p0 + t * (a->p1 - a->p0);
}

/* Returns a round tick step (1, 2 or 5 times a power of ten, at least 1)
 * giving at most about 8 ticks over span. */
static uint64_t tick_step(uint64_t span)
{
    uint64_t step = 1;
    for (;;) {
        static const uint64_t mult[] = {1, 2, 5};
        for (int i = 0; i < 3; i++)
            if (span / (step * mult[i]) <= 8)
                return step * mult[i];
        if (step > UINT64_MAX / 100)
            return step * 10;
        step *= 10;
    }
}

/* Formats a tick value; on an axis reaching 10000 (big), round thousands
 * and millions briefly, "20k", "1.5M", so that labels stay narrow. */
static void tick_label(uint64_t v, bool big, char *buf, size_t size)
{
    if (big && v >= 1000000 && v % 1000000 == 0)
        snprintf(buf, size, "%" PRIu64 "M", v / 1000000);
    else if (big && v >= 1000000 && v % 100000 == 0)
        snprintf(buf, size, "%" PRIu64 ".%" PRIu64 "M", v / 1000000, v % 1000000 / 100000);
    else if (big && v >= 1000 && v % 1000 == 0)
        snprintf(buf, size, "%" PRIu64 "k", v / 1000);
    else
        snprintf(buf, size, "%" PRIu64, v);
}

/* Writes s with the characters XML reserves escaped. */
static void xml_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        default:
            /* Control characters are not allowed in XML 1.0 text. */
            if ((unsigned char)*s < 0x20 && *s != '\t' && *s != '\n')
                fputc('?', f);
            else
                fputc(*s, f);
        }
    }
}

/* Ticks and labels of the memory-size axis: powers of two on a log axis,
 * round steps otherwise. */
static void svg_x_ticks(FILE *f, const struct axis *x)
{
    uint64_t lo = (uint64_t)x->lo, hi = (uint64_t)x->hi;
    char label[32];
    if (x->log) {
        for (uint64_t v = 1; v <= hi; v *= 2) {
            if (v < lo)
                continue;
            double px = axis_map(x, (double)v);
            tick_label(v, hi >= 10000, label, sizeof label);
            fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#000\"/>\n", px,
                    PLOT_BOTTOM, px, PLOT_BOTTOM + 5);
            fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>\n", px, PLOT_BOTTOM + 20,
                    label);
            if (v > UINT64_MAX / 2)
                break;
        }
        return;
    }
    uint64_t step = tick_step(hi - lo);
    for (uint64_t v = (lo + step - 1) / step * step; v <= hi; v += step) {
        double px = axis_map(x, (double)v);
        tick_label(v, hi >= 10000, label, sizeof label);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#000\"/>\n", px,
                PLOT_BOTTOM, px, PLOT_BOTTOM + 5);
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>\n", px, PLOT_BOTTOM + 20,
                label);
    }
}

/* Ticks every step from 0 to the top of y (a multiple of step). */
static void svg_y_ticks(FILE *f, const struct axis *y, uint64_t step)
{
    uint64_t hi = (uint64_t)y->hi;
    char label[32];
    for (uint64_t v = 0; v <= hi; v += step) {
        double py = axis_map(y, (double)v);
        tick_label(v, hi >= 10000, label, sizeof label);
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", PLOT_LEFT, py,
                PLOT_RIGHT, py);
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#000\"/>\n", PLOT_LEFT - 5,
                py, PLOT_LEFT, py);
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n", PLOT_LEFT - 8, py + 4,
                label);
        if (v > UINT64_MAX - step)
            break;
    }
}

int pl_curve_write_svg(const struct pl_curve *c, FILE *f, const struct pl_curve_svg_options *opt)
{
    bool log_x = opt && opt->log_x;
    uint64_t ymax = 0;
    for (size_t i = 0; i < c->nsizes * (size_t)c->npolicies; i++)
        if (c->faults[i] > ymax)
            ymax = c->faults[i];
    if (ymax == 0)
        ymax = 1;
    /* The top of the y axis: the first tick at or above the largest count. */
    uint64_t ystep = tick_step(ymax);
    uint64_t ytop = (ymax + ystep - 1) / ystep * ystep;
    double xlo = c->nsizes ? c->sizes[0] : 1, xhi = c->nsizes ? c->sizes[c->nsizes - 1] : 1;
    if (!log_x)
        xlo = 0;
    if (xhi <= xlo)
        xhi = xlo + 1;
    struct axis x = {xlo, xhi, PLOT_LEFT, PLOT_RIGHT, log_x};
    struct axis y = {0, (double)ytop, PLOT_BOTTOM, PLOT_TOP, false};

    fprintf(f,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
            "font-family=\"sans-serif\" font-size=\"12\">\n"
            "<rect width=\"%d\" height=\"%d\" fill=\"#fff\"/>\n",
            SVG_WIDTH, SVG_HEIGHT, SVG_WIDTH, SVG_HEIGHT, SVG_WIDTH, SVG_HEIGHT);
    fprintf(f, "<text x=\"%d\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">page faults against memory "
               "size</text>\n",
            (PLOT_LEFT + PLOT_RIGHT) / 2);
    fprintf(f, "<text x=\"%d\" y=\"40\" text-anchor=\"middle\" fill=\"#555\">", (PLOT_LEFT + PLOT_RIGHT) / 2);
    if (opt && opt->title) {
        xml_text(f, opt->title);
        fputs(": ", f);
    }
    fprintf(f, "%" PRIu64 " references, %" PRIu32 " distinct pages</text>\n", c->references, c->distinct);

    svg_y_ticks(f, &y, ystep);
    svg_x_ticks(f, &x);
    fprintf(f, "<path d=\"M%d %d V%d H%d\" fill=\"none\" stroke=\"#000\"/>\n", PLOT_LEFT, PLOT_TOP, PLOT_BOTTOM,
            PLOT_RIGHT);
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">memory size (frames)%s</text>\n",
            (PLOT_LEFT + PLOT_RIGHT) / 2, PLOT_BOTTOM + 45, log_x ? ", log scale" : "");
    fprintf(f,
            "<text x=\"20\" y=\"%d\" text-anchor=\"middle\" transform=\"rotate(-90 20 %d)\">page "
            "faults</text>\n",
            (PLOT_TOP + PLOT_BOTTOM) / 2, (PLOT_TOP + PLOT_BOTTOM) / 2);

    for (int p = 0; p < c->npolicies; p++) {
        const char *colour = policy_colour[c->policies[p]];
        fprintf(f, "<g class=\"policy\" id=\"%s\">\n", pl_policy_name(c->policies[p]));
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", colour);
        for (size_t s = 0; s < c->nsizes; s++)
            fprintf(f, "%s%.1f,%.1f", s ? " " : "", axis_map(&x, c->sizes[s]),
                    axis_map(&y, (double)c->faults[s * c->npolicies + p]));
        fputs("\"/>\n", f);
        /* Markers only while they stay apart. */
        if (c->nsizes <= 64)
            for (size_t s = 0; s < c->nsizes; s++)
                fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\"/>\n",
                        axis_map(&x, c->sizes[s]), axis_map(&y, (double)c->faults[s * c->npolicies + p]),
                        colour);
        fputs("</g>\n", f);
    }

    int ly = PLOT_TOP + 10;
    fprintf(f, "<g class=\"legend\">\n");
    for (int p = 0; p < c->npolicies; p++, ly += 22) {
        fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"3\"/>\n",
                PLOT_RIGHT + 25, ly, PLOT_RIGHT + 55, ly, policy_colour[c->policies[p]]);
        fprintf(f, "<text x=\"%d\" y=\"%d\">%s</text>\n", PLOT_RIGHT + 62, ly + 4,
                pl_policy_name(c->policies[p]));
    }
    fputs("</g>\n</svg>\n", f);
    return stream_status(f);
}

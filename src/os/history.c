#include "os/history.h"

#include <stdlib.h>
#include <string.h>

void history_init(struct history *h, bool on, size_t limit)
{
    memset(h, 0, sizeof *h);
    h->on = on;
    h->limit = limit;
}

void history_fini(struct history *h)
{
    free(h->log);
    memset(h, 0, sizeof *h);
}

void history_add(struct history *h, struct pl_pte_write w)
{
    w.seq = ++h->seq;
    if (h->limit && h->n == h->limit) {
        size_t keep = h->limit / 2;
        memmove(h->log, h->log + (h->n - keep), keep * sizeof *h->log);
        h->n = keep;
    }
    if (h->n == h->cap) {
        size_t cap = h->cap ? 2 * h->cap : 1024;
        if (h->limit && cap > h->limit)
            cap = h->limit;
        struct pl_pte_write *log = realloc(h->log, cap * sizeof *log);
        if (!log)
            return;
        h->log = log;
        h->cap = cap;
    }
    h->log[h->n++] = w;
}

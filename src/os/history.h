/* The log of paging-structure entry writes (struct pl_pte_write). */
#ifndef PTELAB_OS_HISTORY_H
#define PTELAB_OS_HISTORY_H

#include <stdbool.h>
#include <stddef.h>

#include "ptelab/kernel.h"

struct history {
    struct pl_pte_write *log;
    size_t n, cap;
    size_t limit; /* 0: unlimited */
    uint64_t seq;
    bool on;
};

void history_init(struct history *h, bool on, size_t limit);
void history_fini(struct history *h);
/* Appends w (seq assigned here). Drops the oldest half when the limit is
 * reached; drops the record when the host is out of memory. */
void history_add(struct history *h, struct pl_pte_write w);

#endif

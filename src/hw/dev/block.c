/* hw/dev/block: see block.h. */
#include "ptelab/block.h"

#include <stdlib.h>
#include <string.h>

#include "ptelab/error.h"

struct pl_block {
    uint64_t n;
    uint8_t **data; /* data[i]: block i, NULL until first written */
    struct pl_cost_model cost;
    struct pl_block_stats stats;
};

struct pl_block *pl_block_new(uint64_t nblocks, const struct pl_cost_model *cost)
{
    if (nblocks == 0)
        return NULL;
    struct pl_block *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->data = calloc(nblocks, sizeof *b->data);
    if (!b->data) {
        free(b);
        return NULL;
    }
    b->n = nblocks;
    b->cost = *cost;
    return b;
}

void pl_block_free(struct pl_block *b)
{
    if (!b)
        return;
    for (uint64_t i = 0; i < b->n; i++)
        free(b->data[i]);
    free(b->data);
    free(b);
}

uint64_t pl_block_count(const struct pl_block *b) { return b->n; }

int pl_block_read(struct pl_block *b, uint64_t n, void *buf)
{
    if (n >= b->n)
        return PL_ERANGE;
    if (b->data[n])
        memcpy(buf, b->data[n], PL_BLOCK_SIZE);
    else
        memset(buf, 0, PL_BLOCK_SIZE);
    b->stats.reads++;
    b->stats.cycles += b->cost.disk_read;
    return 0;
}

int pl_block_write(struct pl_block *b, uint64_t n, const void *buf)
{
    if (n >= b->n)
        return PL_ERANGE;
    if (!b->data[n] && !(b->data[n] = malloc(PL_BLOCK_SIZE)))
        return PL_ENOMEM;
    memcpy(b->data[n], buf, PL_BLOCK_SIZE);
    b->stats.writes++;
    b->stats.cycles += b->cost.disk_write;
    return 0;
}

const struct pl_block_stats *pl_block_stats(const struct pl_block *b) { return &b->stats; }

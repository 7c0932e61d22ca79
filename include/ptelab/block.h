/* A simulated block device: n blocks of 4 KiB, addressed by number, stored
 * sparsely on the host (a block never written reads as zeros). Every
 * transfer is charged to the device's cycle counter from the cost model
 * (disk_read, disk_write). Used by the kernel as its swap device. */
#ifndef PTELAB_BLOCK_H
#define PTELAB_BLOCK_H

#include <stdint.h>

#include "ptelab/cost.h"

#define PL_BLOCK_SIZE 4096u

struct pl_block_stats {
    uint64_t reads, writes; /* blocks transferred */
    uint64_t cycles;        /* simulated cycles spent on transfers */
};

struct pl_block;

/* A device of nblocks blocks (>= 1) with costs from cost (copied). Returns
 * NULL when nblocks is 0 or the host is out of memory. */
struct pl_block *pl_block_new(uint64_t nblocks, const struct pl_cost_model *cost);
void pl_block_free(struct pl_block *b);
uint64_t pl_block_count(const struct pl_block *b);
/* Transfer one block. Return 0, PL_ERANGE (no such block) or PL_ENOMEM
 * (host memory, write only); on error nothing moves and nothing is charged. */
int pl_block_read(struct pl_block *b, uint64_t n, void *buf);
int pl_block_write(struct pl_block *b, uint64_t n, const void *buf);
const struct pl_block_stats *pl_block_stats(const struct pl_block *b);

#endif

/* Internal to src/user/sandbox.c: the sandbox's state (the API is
 * ptelab/sandbox.h). */
#ifndef PTELAB_USER_SANDBOX_H
#define PTELAB_USER_SANDBOX_H

#include <stddef.h>
#include <stdint.h>

#include "ptelab/sandbox.h"

/* A protected range (MPROTECT mode restores its rights after each call). */
struct sandbox_range {
    uint64_t addr, len;
    unsigned prot;
};

struct pl_sandbox {
    struct pl_proc *p;
    enum pl_sandbox_mode mode;
    int key;                        /* PKEY mode; -1 otherwise */
    struct sandbox_range *ranges;   /* MPROTECT mode */
    size_t nranges, cap;
    struct pl_sandbox_stats stats;
};

#endif

/* os/shootdown: TLB shootdown across CPUs (docs/smp.md). pmap changes the
 * entries and flushes the executing CPU; shootdown_send then interrupts
 * every other CPU that may cache the address space's translations (its CPU
 * mask, lazy CPUs only when page tables were freed), and shootdown_wait
 * lets the other CPUs run until each has invalidated and acknowledged. Only
 * then does pmap free the frames. */
#ifndef PTELAB_OS_SHOOTDOWN_H
#define PTELAB_OS_SHOOTDOWN_H

#include <stdbool.h>
#include <stdint.h>

struct pl_kernel;
struct pmap;

#define SHOOTDOWN_MAX_PAGES 33 /* more pages: a flush of the whole PCID */

/* One round of IPIs: what the targets invalidate. */
struct shootdown_req {
    struct pmap *pm;    /* valid while its initiator waits; handlers go by pid */
    int pid;            /* the address space (0: the kernel half, every context) */
    uint16_t pcid;
    uint64_t gen;       /* the address space's tlb_gen after the change */
    bool all;           /* the whole PCID rather than va[0..n) */
    bool freed_tables;  /* page tables went: lazy CPUs must let go of the address space */
    bool leave;         /* the address space goes: CPUs holding it load the kernel's */
    unsigned n;
    uint64_t va[SHOOTDOWN_MAX_PAGES];
    unsigned pending;   /* acknowledgements not yet in */
    unsigned refs;      /* IPIs not yet handled, plus the initiator until it waited */
    uint64_t acked;     /* the initiator's clock when the last acknowledgement reaches it */
};

/* Sends the round for pm (NULL: kernel-half entries, to every CPU) after the
 * executing CPU invalidated va[0..n) (all: everything of pm) itself. Returns
 * the request, for shootdown_wait; NULL when no CPU was interrupted. */
struct shootdown_req *shootdown_send(struct pl_kernel *k, struct pmap *pm, const uint64_t *va, unsigned n, bool all,
                                     bool freed_tables);
/* Lets other CPUs run until every target acknowledged (the NO_WAIT variant
 * returns at once), and charges the wait to the executing CPU. req may be
 * NULL. */
void shootdown_wait(struct pl_kernel *k, struct shootdown_req *req);
/* Before pm's root is freed: every other CPU still holding pm in CR3
 * (lazily) loads the kernel's own address space. Always waits. */
void shootdown_leave_mm(struct pl_kernel *k, struct pmap *pm);
/* True when the protocol frees frames before waiting (a broken variant). */
bool shootdown_frees_early(const struct pl_kernel *k);
/* The executing CPU handles its pending IPIs that have arrived by its
 * clock; with idle, it first waits for the earliest one. Returns how many. */
unsigned shootdown_handle_ipis(struct pl_kernel *k, bool idle);
/* Drops the IPIs still queued on every CPU (kernel shutdown). */
void shootdown_drop_all(struct pl_kernel *k);

#endif

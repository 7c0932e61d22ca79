/* Threads, CPUs and TLB shootdown (docs/smp.md).
 *
 * Every CPU of the machine runs the kernel. A process has one or more
 * threads; each thread is pinned to a CPU and owns its PKRU. The process's
 * own calls (pl_proc_read, pl_sys_munmap, ...) are made by its main thread,
 * which runs on CPU 0; pl_thread_* makes the same calls as another thread.
 *
 * Threads run in two ways:
 *  - now: pl_thread_read, pl_thread_munmap, ... run the call at once on the
 *    thread's CPU. Other CPUs move only while the call waits for them (an
 *    IPI round of a TLB shootdown).
 *  - scheduled: pl_thread_queue adds an operation to the thread's queue;
 *    pl_sched_run interleaves the queued operations of all threads one step
 *    at a time, picking the CPU of each step with a generator seeded from
 *    the kernel configuration. A step is one memory access, one IPI handled,
 *    or one system call up to its shootdown wait, during which other CPUs
 *    step. The same seed gives the same interleaving.
 *
 * The kernel is one lock: while a system call or fault handler waits for
 * acknowledgements, other CPUs' threads may access memory through their TLBs
 * and walk the page tables, but a thread that needs the kernel (a fault, a
 * system call) waits until the call returns.
 *
 * Stale translations: on a machine with more than one CPU, every access a
 * thread completes is compared with the page tables. An access through a
 * translation the tables no longer give (another frame, no frame, fewer
 * rights, another protection key that forbids it) is a violation unless the
 * operation that changed the entry is still waiting for its shootdown and the
 * frame is still allocated. Violations are kept with both CPUs' recent
 * events (pl_kernel_violation_report). */
#ifndef PTELAB_THREAD_H
#define PTELAB_THREAD_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct pl_kernel;
struct pl_proc;
struct pl_thread;

#define PL_MAX_THREADS 4096 /* live threads per kernel */

/* A new thread of p on CPU cpu, with the PKRU of the calling thread (as
 * clone() copies it). Returns 0, -EINVAL (cpu out of range), -ESRCH (p not
 * running), -EAGAIN (PL_MAX_THREADS live) or -ENOMEM. */
int pl_thread_create(struct pl_proc *p, unsigned cpu, struct pl_thread **out);
/* Ends a thread other than the main one (-EINVAL for it: pl_proc_exit ends
 * the process). Its queued operations are dropped. -ESRCH when it ended. */
int pl_thread_exit(struct pl_thread *t);
/* p's main thread (tid = pid), NULL once p ended. */
struct pl_thread *pl_proc_main_thread(const struct pl_proc *p);
int pl_thread_tid(const struct pl_thread *t);
unsigned pl_thread_cpu(const struct pl_thread *t);
struct pl_proc *pl_thread_proc(const struct pl_thread *t);
/* False once the thread or its process ended. */
int pl_thread_alive(const struct pl_thread *t);
/* The thread by tid, NULL when none or ended. */
struct pl_thread *pl_kernel_thread(const struct pl_kernel *k, int tid);

/* The process's calls, made now by thread t on its CPU. Same results as
 * the pl_proc_ / pl_sys_ calls; -ESRCH when t ended. */
int pl_thread_read(struct pl_thread *t, uint64_t va, void *buf, size_t len);
int pl_thread_write(struct pl_thread *t, uint64_t va, const void *buf, size_t len);
int pl_thread_fetch(struct pl_thread *t, uint64_t va, uint8_t *byte);
int pl_thread_mmap(struct pl_thread *t, uint64_t addr, uint64_t len, unsigned prot, unsigned flags, uint64_t *out);
int pl_thread_munmap(struct pl_thread *t, uint64_t addr, uint64_t len);
int pl_thread_mprotect(struct pl_thread *t, uint64_t addr, uint64_t len, unsigned prot);
int pl_thread_wrpkru(struct pl_thread *t, uint32_t value);
int pl_thread_rdpkru(struct pl_thread *t, uint32_t *value);
/* The thread blocks: when nothing else runs on its CPU, the CPU goes idle in
 * lazy TLB mode (the address space stays loaded, IPIs skip it). */
int pl_thread_sleep(struct pl_thread *t);

/* Queued operations for the scheduler. Accesses are 8-byte words at an
 * 8-aligned va: a write stores value, a read stores what it read in *out
 * (when not NULL; it must outlive the run). */
enum pl_op_kind {
    PL_OP_READ = 1,
    PL_OP_WRITE,
    PL_OP_FETCH,
    PL_OP_MMAP,     /* anonymous private, at va (MAP_FIXED), len bytes, prot */
    PL_OP_MUNMAP,   /* va, len */
    PL_OP_MPROTECT, /* va, len, prot */
    PL_OP_SLEEP,    /* go idle for one step of this CPU */
    PL_OP_MIGRATE,  /* the page at va moves to a new frame (pl_proc_migrate) */
    PL_OP_COUNT
};
struct pl_thread_op {
    uint8_t kind; /* enum pl_op_kind */
    unsigned prot;
    uint64_t va, len, value;
    uint64_t *out;
    int *rc; /* when not NULL: the operation's result (0 or a negative errno) */
};
/* Appends op to t's queue. -EINVAL for an unknown kind, an unaligned
 * access, or a length of 0 for MMAP/MUNMAP; -ESRCH when t ended. */
int pl_thread_queue(struct pl_thread *t, const struct pl_thread_op *op);
/* Queued operations not yet done. */
size_t pl_thread_pending(const struct pl_thread *t);

/* Runs one step; returns 1, or 0 when no CPU has anything to do. */
int pl_sched_step(struct pl_kernel *k);
/* Runs steps until nothing is queued or max_steps were taken (0: no
 * limit). Returns the steps taken. */
uint64_t pl_sched_run(struct pl_kernel *k, uint64_t max_steps);

/* What happened, in order, on every CPU: the event log (the last
 * PL_EVENT_LOG of them). */
enum pl_event_kind {
    PL_EV_ACCESS = 1, /* a thread's access completed: va -> arg (pa) */
    PL_EV_FAULT,      /* a #PF at va, arg = error code */
    PL_EV_BLOCKED,    /* a thread waits for the kernel (va: its access, or 0) */
    PL_EV_SYSCALL,    /* arg = enum pl_op_kind of the call (0: other) */
    PL_EV_SWITCH,     /* the CPU loaded thread tid (arg: 1 = with a TLB flush) */
    PL_EV_IDLE,       /* the CPU went idle; arg: 1 = lazy TLB (address space kept) */
    PL_EV_PTE,        /* the call changed entries: arg of them */
    PL_EV_FLUSH,      /* local invalidation: va (arg = pages), or arg = 0 for the whole PCID */
    PL_EV_IPI_SEND,   /* an IPI to CPU arg */
    PL_EV_IPI,        /* an IPI handled: flushed arg pages (0: whole PCID) */
    PL_EV_LEAVE_MM,   /* the CPU left a lazily loaded address space */
    PL_EV_ACKED,      /* every target acknowledged; arg = cycles waited */
    PL_EV_RELEASE,    /* arg frames released after the shootdown */
    PL_EV_STALE,      /* a stale-translation violation: va -> arg (pa) */
};
const char *pl_event_name(unsigned kind);
struct pl_event {
    uint64_t step;  /* scheduler steps before it */
    uint64_t clock; /* the CPU's cycle clock */
    uint8_t cpu;
    uint8_t kind;   /* enum pl_event_kind */
    int32_t tid;    /* thread (0: none) */
    uint64_t va;
    uint64_t arg;
};
#define PL_EVENT_LOG 4096
/* The kept events, oldest first: *n of them. Valid until the next operation. */
const struct pl_event *pl_kernel_events(const struct pl_kernel *k, size_t *n);
/* Prints one event as a line. */
void pl_event_print(FILE *f, const struct pl_event *e);

/* A stale-translation violation. */
enum pl_stale_why {
    PL_STALE_FREED = 1, /* the frame was freed (or reused) under the translation */
    PL_STALE_RETURNED,  /* the entry changed and the call that changed it had returned */
};
struct pl_violation {
    uint64_t step;
    uint8_t cpu, why;   /* why: enum pl_stale_why */
    uint8_t kind;       /* enum pl_access_kind */
    int8_t changer_cpu; /* the CPU of the call that last changed the entry, -1 unknown */
    int32_t tid, pid;
    uint64_t va, pa;    /* the access and where it went */
    uint64_t now_pa;    /* what the tables map there now (0: nothing) */
    size_t event;       /* index of its PL_EV_STALE in the event log numbering (events ever logged) */
};
/* Violations found so far (the first 64 are kept), and their count. */
const struct pl_violation *pl_kernel_violations(const struct pl_kernel *k, size_t *kept, uint64_t *total);
/* Prints violation i: what happened, and the recent events of the CPU that
 * made the access and of the CPU that changed the entry. */
void pl_kernel_violation_report(const struct pl_kernel *k, size_t i, FILE *f);

/* Per-CPU counters of the shootdown machinery. */
struct pl_smp_cpu_stats {
    uint64_t ipis_received, ipis_handled_lazy;
    uint64_t flush_pages, flush_full; /* done for IPIs */
    uint64_t clock;                   /* the CPU's cycle clock */
    uint64_t wait_cycles;             /* spent waiting for acknowledgements */
    uint64_t steps;
};
const struct pl_smp_cpu_stats *pl_kernel_cpu_stats(const struct pl_kernel *k, unsigned cpu);

#endif

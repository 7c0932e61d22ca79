/* Internal to src/os: the kernel's and processes' structures, shared by the
 * modules of the kernel. Nothing here is public API. */
#ifndef PTELAB_OS_OS_H
#define PTELAB_OS_OS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "os/history.h"
#include "os/pmap.h"
#include "ptelab/kernel.h"
#include "ptelab/proc.h"
#include "ptelab/thread.h"

struct shootdown_req;

/* A pending IPI on its target. */
struct ipi {
    struct shootdown_req *req;
    uint64_t due;  /* the target's clock at which it arrives */
};

/* What the kernel keeps for each CPU (os/kernel, os/sched, os/shootdown). */
struct percpu {
    struct pl_cpu *cpu;     /* (b) */
    unsigned id;            /* (b) */
    struct pl_thread *curr; /* (k) the thread whose context is loaded; NULL: idle or the kernel's */
    struct pmap *mm;        /* (k) the address space in CR3; NULL: the kernel's own */
    bool lazy;              /* (k) idle with mm still loaded (lazy TLB) */
    bool blocked;           /* (k) its thread waits for the kernel, held by a call on another CPU */
    unsigned busy;          /* (k) in a signal handler's host code: it takes IPIs, runs no thread */
    uint64_t clock;         /* (k) cycles: the CPU's own, plus kernel work and waits on it */
    uint64_t cpu_cycles;    /* (k) the CPU counter's value when clock last took it in */
    struct ipi *ipis;       /* (k) pending, in arrival order */
    size_t nipis, ipis_cap; /* (k) */
    struct pl_thread **runq; /* (k) threads pinned here, in creation order */
    size_t nrun, run_cap;   /* (k) */
    size_t rr;              /* (k) round-robin position in runq */
    int32_t *pcid_owner;    /* (k) [4096] pid that last loaded each PCID here */
    uint64_t *pcid_gen;     /* (k) [4096] its address space's tlb_gen this CPU's TLB is up to */
    struct pl_smp_cpu_stats stats; /* (k) */
};

/* A thread: pinned to a CPU, with its own PKRU and operation queue. */
struct pl_thread {
    struct pl_proc *p; /* (b) */
    int tid;           /* (b) */
    unsigned cpu;      /* (b) */
    bool alive;        /* (k) */
    uint32_t pkru;     /* (k) PKRU while it is switched out (os/pkey) */
    struct pl_thread_op *ops; /* (k) queued operations, ops[head..nops) pending */
    size_t head, nops, ops_cap; /* (k) */
    size_t page_done;  /* (k) bytes of the head operation done (accesses) */
    struct pl_thread *next_in_proc; /* (k) p's threads, main first */
};

/* Legend: (k) kernel only, under its single thread of control; (b) set at
 * boot, then constant; (p) the owning process's operations. */
struct pl_kernel {
    struct pl_machine *m;              /* (b) */
    struct pl_physmem *mem;            /* (b) m->mem */
    struct percpu *cpus;               /* (b) one per CPU of the machine */
    struct percpu *this;               /* (k) the CPU executing the kernel now */
    struct pl_thread *caller;          /* (k) the thread making the current call, when not a main thread */
    struct pl_frame_allocator *frames; /* (b) */
    struct pl_kernel_config cfg;       /* (b) */
    int levels;                        /* (b) 4 or 5 */
    uint64_t user_top;                 /* (b) first address above the user half */
    uint64_t direct_map;               /* (b) virtual base of the direct map */
    uint64_t kernel_root;              /* (b) root table of the kernel's own address space */
    uint64_t kernel_half[256];         /* (b) root entries 256..511, copied into every process */
    uint64_t own_frames;               /* (b) frames the kernel took for itself */
    struct pl_kernel_stats stats;      /* (k) */
    struct history history;            /* (k) */
    struct pl_proc **procs;            /* (k) procs[pid - 1], NULL once reaped */
    int nprocs;                        /* (k) pids handed out */
    int procs_cap;                     /* (k) */
    struct sched *sched;               /* (k) os/sched: threads, steps, the generator */
    struct smp_log *log;               /* (k) os/stale: events and violations */
    bool waiting;                      /* (k) a call waits for acknowledgements: the kernel is held */
    struct pmap *waiting_on;           /* (k) ... for a shootdown of this address space (NULL: kernel half) */
    struct pl_shm *shm_list;           /* (k) every live shared-memory object */
    struct ioremap_area *io;           /* (k) live ioremap mappings (os/ioremap), io_n of them */
    size_t io_n, io_cap;               /* (k) */
    uint64_t io_next;                  /* (k) next free address of the ioremap area (never reused) */
    struct swapk *swap;                /* (b) os/swap state; NULL when swap and OOM killer are off */
};

struct pl_proc {
    struct pl_kernel *k;       /* (b) */
    int pid;                   /* (b) */
    enum pl_proc_state state;  /* (p) */
    int status;                /* (p) exit status */
    struct pl_siginfo kill_info; /* (p) why it was killed */
    struct pmap pmap;          /* (p) */
    struct pl_vma_set *vmas;   /* (p) */
    pl_signal_fn *sig_fn;      /* (p) */
    void *sig_ctx;             /* (p) */
    struct pl_proc_stats stats; /* (p) */
    struct pl_thread *threads; /* (p) its live threads, the main one first (NULL once ended) */
    uint16_t pkeys;            /* (p) allocated protection keys, bit k for key k; bit 0 always */
    int oom_adj;               /* (p) oom_score_adj, [-1000, 1000] */
};

/* A shared-memory object. It lives while its creator holds it or any region
 * maps part of it. */
struct pl_shm {
    struct pl_kernel *k;
    uint64_t npages;
    uint64_t *pages;       /* frame of each page, 0 until first touched; each holds one reference */
    bool held;             /* the creator has not released it */
    uint64_t mapped_pages; /* pages of regions, in all processes, that map the object */
    bool device;           /* a device range (pl_sys_mmap_device): page i is dev_base + i pages, no frames */
    uint8_t memtype;       /* enum pl_memtype its mappings use: WB for memory objects */
    uint64_t dev_base;
    struct pl_shm *next, **prev_next; /* in k->shm_list */
};

/* Cycles of kernel work, charged to the kernel's counter. */
void kernel_charge(struct pl_kernel *k, uint64_t cycles);
/* Loads thread t's context on the executing CPU: its address space (with a
 * flush when its generation moved on) and its PKRU. */
void kernel_switch_to(struct pl_kernel *k, struct pl_thread *t);
/* Invalidates every non-global TLB and paging-structure-cache entry of
 * pcid on cpu (at CPL 0): INVPCID type 1 with PCIDs; without them only the
 * loaded address space has entries, and a CR3 reload drops them. */
void cpu_flush_pcid(struct pl_cpu *cpu, uint16_t pcid);
/* The executing CPU runs no thread: idle in lazy TLB mode. */
void kernel_go_idle(struct pl_kernel *k);
/* The executing CPU loads the kernel's own address space (its mm goes). */
void kernel_leave_mm(struct pl_kernel *k);
/* The thread that makes p's calls now: k->caller when it is p's, else
 * p's main thread. */
struct pl_thread *proc_caller(const struct pl_proc *p);
/* Brings c's clock up to date with its CPU's cycle counter; returns it. */
uint64_t percpu_now(struct percpu *c);
/* The CPU registers of the executing CPU. */
static inline struct pl_cpu *kcpu(const struct pl_kernel *k) { return k->this->cpu; }
/* os/aspace: the entry of a system call by p: counted, charged, p's
 * address space loaded, CPL 0. Returns 0, or -ESRCH when p is not running. */
int syscall_enter(struct pl_proc *p);
/* Enters / leaves the kernel: CPL 0 / CPL 3. */
void kernel_enter(struct pl_kernel *k);
void kernel_leave(struct pl_kernel *k);

/* os/shm: the frame of page index of obj, created zeroed when absent.
 * Returns 0 or PL_ENOMEM. */
int shm_page(struct pl_shm *obj, uint64_t index, uint64_t *pa);
/* Frees obj and drops its pages (kernel shutdown, or nothing uses it). */
void shm_destroy(struct pl_shm *obj);
/* A region of n pages started or stopped mapping obj; frees it when unused. */
void shm_map_pages(struct pl_shm *obj, uint64_t n);
void shm_unmap_pages(struct pl_shm *obj, uint64_t n);

/* os/pkey: a new process's key state (Linux's init_pkru, key 0 only);
 * the PKRU thread t runs with (the CPU's while t is loaded there). */
void pkey_proc_init(struct pl_proc *p);
uint32_t pkey_thread_pkru(const struct pl_thread *t);

/* os/ioremap: one ioremap mapping. */
struct ioremap_area {
    uint64_t va, pa, size; /* page aligned */
    uint8_t memtype;
};

/* os/aspace: mprotect and pkey_mprotect. key PL_PKEY_KEEP (-1, as in
 * Linux) keeps every page's key; any other key must be allocated (-EINVAL).
 * Returns 0 or a negative errno. */
#define PL_PKEY_KEEP (-1)
int aspace_protect(struct pl_proc *p, uint64_t addr, uint64_t len, unsigned prot, int key);
/* os/pkey: true when p has allocated key. */
bool pkey_allocated(const struct pl_proc *p, int key);
/* os/aspace: removes every region and page of p (exit, exec). */
void aspace_clear(struct pl_proc *p, unsigned why);
/* os/fault: handles a fault p took; 0 when the access may be retried, else
 * fills si for a signal. */
int fault_handle(struct pl_proc *p, const struct pl_fault *f, unsigned kind, struct pl_siginfo *si);

/* os/proc: kills p with si (its kill_info), freeing its memory. */
void proc_kill(struct pl_proc *p, const struct pl_siginfo *si);
/* os/proc: a new pid (or tid: they share one numbering, as on Linux), its
 * slot in k->procs NULL; 0 when the host is out of memory. */
int kernel_new_id(struct pl_kernel *k);

/* os/sched: the scheduler's state, threads and steps. */
int sched_init(struct pl_kernel *k);
void sched_fini(struct pl_kernel *k);
/* A thread of p on cpu, appended to p's threads and cpu's run queue, with
 * tid (a new id when 0). 0, or -ENOMEM. */
int sched_thread_new(struct pl_proc *p, unsigned cpu, int tid, struct pl_thread **out);
/* t ends: off its run queue, its queue dropped, its CPU idle if it ran it. */
void sched_thread_end(struct pl_thread *t);
/* Frees p's thread structs (reap). */
void sched_threads_free(struct pl_proc *p);
/* While a call on the executing CPU waits: one step of another CPU, the
 * executing CPU's context restored after it. False when no CPU can step. */
bool sched_step_other(struct pl_kernel *k);
/* The call that held the kernel returned: blocked threads may go on. */
void sched_unblock(struct pl_kernel *k);
/* Steps taken so far. */
uint64_t sched_steps(const struct pl_kernel *k);

/* os/stale: the event log and the stale-translation detector. */
int smp_log_init(struct pl_kernel *k);
void smp_log_fini(struct pl_kernel *k);
/* Logs an event of the executing CPU (machines with more than one CPU). */
void smp_event(struct pl_kernel *k, unsigned kind, int tid, uint64_t va, uint64_t arg);
/* Checks a completed access of t at va (kind) that went to pa. */
void stale_check(struct pl_kernel *k, const struct pl_thread *t, uint64_t va, unsigned kind, uint64_t pa);

#endif

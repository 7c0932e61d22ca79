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

/* Legend: (k) kernel only, under its single thread of control; (b) set at
 * boot, then constant; (p) the owning process's operations. */
struct pl_kernel {
    struct pl_machine *m;              /* (b) */
    struct pl_physmem *mem;            /* (b) m->mem */
    struct pl_cpu *cpu;                /* (b) the CPU the kernel runs on */
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
    struct pl_proc *current;           /* (k) whose CR3 the CPU holds; NULL: the kernel's */
    int pcid_owner[4096];              /* (k) pid that last used each PCID */
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
    uint32_t pkru;             /* (p) PKRU while the process is switched out (os/pkey) */
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
/* Loads p's address space on the CPU (the kernel's own when p is NULL). */
void kernel_switch_to(struct pl_kernel *k, struct pl_proc *p);
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
 * the PKRU p runs with (the CPU's while p is current). */
void pkey_proc_init(struct pl_proc *p);
uint32_t pkey_proc_pkru(const struct pl_proc *p);

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

#endif

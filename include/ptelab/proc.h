/* Processes of the simulated kernel: their address spaces, the system calls
 * that shape them (mmap, munmap, mprotect), their loads and stores (made at
 * CPL 3 through the CPU's TLBs and walker, faults handled by the kernel),
 * fork with copy-on-write, exit, exec, shared-memory objects, and
 * SIGSEGV-like signals with user handlers.
 *
 * System calls return 0 or a negative POSIX errno (-EINVAL, -ENOMEM, ...),
 * as Linux does. */
#ifndef PTELAB_PROC_H
#define PTELAB_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ptelab/vma.h"

struct pl_kernel;
struct pl_proc;
struct pl_shm;

enum pl_proc_state { PL_PROC_RUNNING = 1, PL_PROC_EXITED, PL_PROC_KILLED };

/* Signal codes: why a fault could not be fixed. */
enum pl_sig_code {
    PL_SEGV_MAPERR = 1, /* no region at the address (or a kernel address) */
    PL_SEGV_ACCERR,     /* a region, but its rights deny the access */
    PL_SEGV_PKUERR,     /* a protection key denies the access */
    PL_SEGV_GP,         /* non-canonical address (#GP) */
    PL_SIG_OOM,         /* no memory to fix the fault: killed, no handler runs */
};
const char *pl_sig_code_name(unsigned code);

struct pl_siginfo {
    uint64_t addr;       /* faulting address */
    uint16_t error_code; /* #PF error code (0 for #GP) */
    uint8_t code;        /* enum pl_sig_code */
    uint8_t kind;        /* enum pl_access_kind */
    uint8_t pkey;        /* the key, for PL_SEGV_PKUERR */
};

/* What the process does after its handler ran. */
enum pl_sig_action {
    PL_SIG_RETRY = 1, /* the handler fixed something: retry the access */
    PL_SIG_ABANDON,   /* give up this access (like siglongjmp): it fails with -EFAULT */
    PL_SIG_KILL,      /* default action: the process dies */
};
typedef enum pl_sig_action pl_signal_fn(struct pl_proc *p, const struct pl_siginfo *si, void *ctx);

/* Counters of one process. */
struct pl_proc_stats {
    uint64_t faults, zero_fill, shared_page, cow_copy, cow_reuse, spurious, signals;
    uint64_t thp_fault; /* zero-filled 2 MiB pages (pl_kernel_config.huge_anon) */
    uint64_t resident;  /* user pages mapped now */
    uint64_t pt_pages;  /* user page-table pages now */
};

/* A new process with an empty user half. Returns 0, or -ENOMEM. */
int pl_proc_spawn(struct pl_kernel *k, struct pl_proc **out);
/* A copy of parent: its regions, its private pages shared copy-on-write (both
 * sides read-only until one writes), its shared mappings still shared with
 * the same rights. Returns 0, -ENOMEM, or -ESRCH when the parent is not
 * running. After -ENOMEM no child exists and nothing leaks, but the pid is
 * used up and parent pages already made read-only stay so (their next write
 * reuses them). */
int pl_proc_fork(struct pl_proc *parent, struct pl_proc **child);
/* Ends a running process: every region, page and page table it held is
 * freed. The struct stays (state EXITED, status) until pl_proc_reap. An
 * ended process is left as it is. */
void pl_proc_exit(struct pl_proc *p, int status);
/* Frees an ended process's struct. */
void pl_proc_reap(struct pl_proc *p);
/* An exec-like start: the user half is emptied, pid and handler kept. */
int pl_proc_exec(struct pl_proc *p);

int pl_proc_pid(const struct pl_proc *p);
enum pl_proc_state pl_proc_state(const struct pl_proc *p);
int pl_proc_exit_status(const struct pl_proc *p);
/* Why it was killed, when state is KILLED. */
const struct pl_siginfo *pl_proc_kill_info(const struct pl_proc *p);
struct pl_kernel *pl_proc_kernel(const struct pl_proc *p);
const struct pl_proc_stats *pl_proc_stats(const struct pl_proc *p);
const struct pl_vma_set *pl_proc_vmas(const struct pl_proc *p);
/* Physical address of the root table (PML4 or PML5). */
uint64_t pl_proc_root(const struct pl_proc *p);

/* A handler for SIGSEGV-like faults; NULL restores the default (kill). */
void pl_proc_set_signal_handler(struct pl_proc *p, pl_signal_fn *fn, void *ctx);

/* mmap: flags is PL_MAP_PRIVATE or PL_MAP_SHARED, with PL_MAP_ANONYMOUS
 * (shm NULL) or an object (shm, offset in bytes, page aligned), optionally
 * PL_MAP_FIXED. Without FIXED, addr is a hint. Stores the address in *out.
 * -EINVAL: length 0, unaligned FIXED address or offset, unknown prot or flag
 * bits, neither or both of PRIVATE and SHARED, ANONYMOUS with an object;
 * -ENOMEM: no room, a FIXED range beyond the user half, or no memory. */
int pl_sys_mmap(struct pl_proc *p, uint64_t addr, uint64_t len, unsigned prot, unsigned flags,
                struct pl_shm *shm, uint64_t offset, uint64_t *out);
/* -EINVAL: unaligned addr, length 0, or a range outside the user half. */
int pl_sys_munmap(struct pl_proc *p, uint64_t addr, uint64_t len);
/* -EINVAL: unaligned addr, unknown prot bits; -ENOMEM: part of the range is
 * not mapped (nothing changes). Length 0 is a no-op. */
int pl_sys_mprotect(struct pl_proc *p, uint64_t addr, uint64_t len, unsigned prot);

/* Loads and stores of the process, at CPL 3 through the CPU, faults handled
 * as the kernel does. Return 0; -EFAULT when a fault ended in a signal whose
 * handler abandoned the access or that killed the process (see state);
 * -ESRCH when the process is not running; -EINVAL when a device page refuses
 * the width of a piece (docs/memory-types.md: the bytes go through the memory
 * system by the page's memory type, in aligned pieces of up to 8 bytes).
 * On -EFAULT the bytes before the
 * faulting page were transferred. */
int pl_proc_read(struct pl_proc *p, uint64_t va, void *buf, size_t len);
int pl_proc_write(struct pl_proc *p, uint64_t va, const void *buf, size_t len);
/* An instruction fetch of one byte at va (the byte in *byte if not NULL). */
int pl_proc_fetch(struct pl_proc *p, uint64_t va, uint8_t *byte);

/* Page migration (as compaction or NUMA balancing do): the kernel moves
 * the private page at va to a new frame: contents, rights, key, accessed
 * and dirty state kept; the old frame is freed once no CPU translates to it.
 * The new frame goes to *new_pa when not NULL. Returns 0; -EFAULT when no
 * frame is present at va; -EBUSY when the frame is not a private
 * anonymous page of p alone (shared after fork, shared memory, a device);
 * -ENOMEM; -ESRCH when p is not running. */
int pl_proc_migrate(struct pl_proc *p, uint64_t va, uint64_t *new_pa);

/* Visits the process's present leaf entries in the user half in address
 * order: va of the page, level of the leaf, entry address and value. */
typedef void pl_pte_visit_fn(void *ctx, uint64_t va, int level, uint64_t entry_pa, uint64_t entry);
void pl_proc_foreach_pte(const struct pl_proc *p, pl_pte_visit_fn *fn, void *ctx);

/* A shared-memory object of size bytes (rounded up to pages), its pages
 * created zeroed on first touch. Returns 0, -EINVAL (size 0), or -ENOMEM.
 * The creator holds one reference; mappings hold one each. */
int pl_shm_create(struct pl_kernel *k, uint64_t size, struct pl_shm **out);
/* Drops the creator's reference; the object goes when no mapping is left. */
void pl_shm_release(struct pl_shm *shm);
uint64_t pl_shm_size(const struct pl_shm *shm);

#endif

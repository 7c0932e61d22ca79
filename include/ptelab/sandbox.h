/* The syscall-wrapper sandbox (user space, on the simulated kernel): a
 * sensitive module's data pages carry a protection key k, and every system
 * call the process makes through the wrapper runs with WD set for k (WRPKRU
 * before the call, WRPKRU after it), so the kernel cannot be tricked into
 * writing the module's data on the process's behalf (a read() into a
 * pointer that aims at it faults with PK in the error code), while the
 * module itself writes its data freely between calls.
 *
 * The same protection done with mprotect (PL_SANDBOX_MPROTECT: the pages
 * read-only before each call, writable again after it: two more system
 * calls, entry updates and TLB invalidations per call) is provided to be
 * compared with (bench/sandbox.c). See docs/pkeys.md. */
#ifndef PTELAB_SANDBOX_H
#define PTELAB_SANDBOX_H

#include <stddef.h>
#include <stdint.h>

#include "ptelab/proc.h"

enum pl_sandbox_mode {
    PL_SANDBOX_PKEY = 1, /* a protection key; WD toggled with WRPKRU around each call */
    PL_SANDBOX_MPROTECT, /* mprotect read-only before each call, back after it */
};

struct pl_sandbox_stats {
    uint64_t calls;  /* system calls made through the wrapper */
    uint64_t denied; /* of those, ended by a fault on the module's data (-EFAULT) */
};

struct pl_sandbox;

/* A sandbox for process p. PKEY mode allocates its key (pkey_alloc with no
 * access restriction: the module keeps full access outside system calls).
 * Returns 0; -EINVAL for an unknown mode; -ENOSPC when no key is left;
 * -ENOMEM; -ESRCH when p is not running. p must outlive the sandbox. */
int pl_sandbox_new(struct pl_proc *p, enum pl_sandbox_mode mode, struct pl_sandbox **out);
/* Frees the sandbox. The key stays allocated: the pages still carry it. */
void pl_sandbox_free(struct pl_sandbox *sb);

/* The key (PKEY mode), or -1. */
int pl_sandbox_key(const struct pl_sandbox *sb);
enum pl_sandbox_mode pl_sandbox_mode(const struct pl_sandbox *sb);
const struct pl_sandbox_stats *pl_sandbox_stats(const struct pl_sandbox *sb);

/* Puts the module's data [addr, addr + len) under the sandbox with rights
 * prot (which should include PL_PROT_WRITE: what is protected is writing).
 * PKEY mode: pkey_mprotect(addr, len, prot, key); MPROTECT mode:
 * mprotect(addr, len, prot), and the range is remembered. Returns what the
 * system call returns (0, -EINVAL, -ENOMEM, -ESRCH), or -ENOMEM. */
int pl_sandbox_protect(struct pl_sandbox *sb, uint64_t addr, uint64_t len, unsigned prot);

/* A system call made through the wrapper: fn(p, ctx) runs with the
 * module's data write-protected, and the protection is lifted after it
 * returns, whatever it returned. Returns fn's result. Counts the call, and
 * as denied when fn returns -EFAULT. */
typedef int pl_sandbox_syscall_fn(struct pl_proc *p, void *ctx);
int pl_sandbox_call(struct pl_sandbox *sb, pl_sandbox_syscall_fn *fn, void *ctx);

/* pl_sys_read_into through the wrapper (fault as there). */
int pl_sandbox_read_into(struct pl_sandbox *sb, uint64_t buf_va, const void *data, size_t len,
                         struct pl_siginfo *fault);

#endif

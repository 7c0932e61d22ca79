/* Protection keys (x86 PKU) with Linux's system calls: pkey_alloc,
 * pkey_free, pkey_mprotect; WRPKRU and RDPKRU executed by a process at CPL 3
 * (no kernel entry, no TLB flush); and a read()-like system call whose copy
 * into user memory is made by the kernel, at CPL 0, as copy_to_user does.
 * See docs/pkeys.md.
 *
 * PKRU holds two bits per key k: AD (bit 2k, access disable) and WD (bit
 * 2k + 1, write disable). It is per thread on Linux; processes here have one
 * thread, so it is per process, saved and restored on context switches. A
 * new process runs with PL_PKRU_INIT, fork copies the parent's PKRU and
 * allocated keys, exec resets both. PK faults reach the process as
 * SIGSEGV-like signals with code PL_SEGV_PKUERR and pkey the key of the
 * faulting entry. System calls return a value >= 0 or a negative errno. */
#ifndef PTELAB_PKEY_H
#define PTELAB_PKEY_H

#include <stddef.h>
#include <stdint.h>

#include "ptelab/proc.h"

/* pkey_alloc's access rights (Linux's values). */
#define PL_PKEY_DISABLE_ACCESS 0x1u
#define PL_PKEY_DISABLE_WRITE 0x2u
#define PL_PKEY_ACCESS_MASK 0x3u

/* PKRU bits of key k (0..15). */
#define PL_PKRU_AD(k) (UINT32_C(1) << (2 * (k)))
#define PL_PKRU_WD(k) (UINT32_C(2) << (2 * (k)))
/* Linux's init_pkru_value (arch/x86/mm/pkeys.c): AD for keys 1..15, key 0
 * open, so memory of a key nobody set up is inaccessible by default. */
#define PL_PKRU_INIT UINT32_C(0x55555554)

/* pkey_alloc: the lowest free key (1..15), with the calling thread's PKRU
 * bits for it set to access_rights (the other keys' bits unchanged).
 * -EINVAL: flags != 0 or access_rights outside PL_PKEY_ACCESS_MASK;
 * -ENOSPC: keys 1..15 are all allocated, or CR4.PKE = 0 (Linux then has one
 * key, 0); -ESRCH: p is not running. No key is reserved for execute-only
 * memory: x86 pages here are readable whenever executable (see docs). */
int pl_sys_pkey_alloc(struct pl_proc *p, unsigned flags, unsigned access_rights);
/* pkey_free: 0; -EINVAL for key 0 (always allocated) or a key that is not
 * allocated. Pages and regions that carry the key keep it (Linux does not
 * look for them); a later pkey_alloc may hand the key out again. PKRU is
 * not changed. */
int pl_sys_pkey_free(struct pl_proc *p, int key);
/* pkey_mprotect: mprotect (see pl_sys_mprotect) that also gives every page
 * of the range protection key key, in its region and in its entries. key -1
 * keeps the regions' keys (plain mprotect). -EINVAL for an unaligned addr,
 * unknown prot bits, or a key that is not allocated (checked before the
 * range: Linux order); -ENOMEM: part of the range is not mapped. Length 0
 * returns 0 before the key is looked at, as on Linux. */
int pl_sys_pkey_mprotect(struct pl_proc *p, uint64_t addr, uint64_t len, unsigned prot, int key);

/* Keys allocated in p: bit k for key k (bit 0 always). */
uint16_t pl_proc_pkeys(const struct pl_proc *p);

/* WRPKRU / RDPKRU executed by p at CPL 3 on the CPU (p is switched in
 * first if it is not current). No system call, no TLB invalidation; cycles
 * from cost.wrpkru / cost.rdpkru on the CPU's counter. 0; -ESRCH when p is
 * not running; -EINVAL when CR4.PKE = 0 (#UD: the process would get SIGILL,
 * which is not modelled). */
int pl_proc_wrpkru(struct pl_proc *p, uint32_t value);
int pl_proc_rdpkru(struct pl_proc *p, uint32_t *value);

/* A read()-like system call: the kernel copies len bytes of data into p's
 * memory at buf_va, a page at a time, with CPL 0 writes under RFLAGS.AC = 1
 * (STAC/CLAC, as copy_to_user) through the CPU with p's PKRU. A fault the
 * kernel can fix (first touch, copy on write) is fixed; one it cannot (no
 * region, no write right, a protection key) ends the copy with -EFAULT, no
 * signal; a range outside the user half is refused first (access_ok:
 * -EFAULT, code MAPERR, error code 0). When fault is not NULL it receives
 * what happened: address,
 * error code (e.g. 0x23 = P|W|PK for a key's WD: no U/S, the access was the
 * kernel's), code and key. The bytes before the faulting page were written.
 * Returns 0, -EFAULT, or -ESRCH. */
int pl_sys_read_into(struct pl_proc *p, uint64_t buf_va, const void *data, size_t len, struct pl_siginfo *fault);

#endif

/* os/pkey: pkey_alloc, pkey_free and pkey_mprotect (every errno case, the
 * key in the entries), PKRU per process (Linux's initial value, saved and
 * restored across switches, inherited by fork, reset by exec), WRPKRU and
 * RDPKRU as user instructions (no kernel entry, no TLB invalidation), PK
 * faults as signals carrying the entry's key, the kernel's copy into user
 * memory (pl_sys_read_into), and the checker's key rule. The invariant
 * checker runs after every test. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "ptelab/cpu.h"
#include "ptelab/error.h"
#include "ptelab/kernel.h"
#include "ptelab/machine.h"
#include "ptelab/physmem.h"
#include "ptelab/pkey.h"
#include "ptelab/proc.h"

#define PG UINT64_C(4096)
#define RW (PL_PROT_READ | PL_PROT_WRITE)
#define RO PL_PROT_READ
#define ANON (PL_MAP_PRIVATE | PL_MAP_ANONYMOUS)
#define X UINT64_C(0x200000000)
#define KEY_OF(e) ((unsigned)((e) >> 59) & 15u)

static struct pl_machine *m;
static struct pl_kernel *k;
static struct pl_proc *p;

static void assert_consistent(void)
{
    char msg[256];
    int rc = pl_kernel_check(k, msg, sizeof msg);
    cr_assert_eq(rc, 0, "kernel check: %s", msg);
}

static void boot(bool pke)
{
    struct pl_machine_config mc;
    pl_machine_config_default(&mc);
    mc.ram_size = UINT64_C(16) << 20;
    mc.pke = pke;
    cr_assert_eq(pl_machine_new(&mc, &m), 0);
    cr_assert_eq(pl_kernel_new(m, NULL, &k), 0);
    cr_assert_eq(pl_proc_spawn(k, &p), 0);
}

static void setup(void) { boot(true); }

static void teardown(void)
{
    assert_consistent();
    pl_kernel_free(k);
    pl_machine_free(m);
}

TestSuite(pkey, .init = setup, .fini = teardown);

static void map_fixed(struct pl_proc *q, uint64_t addr, uint64_t len, unsigned prot)
{
    uint64_t a;
    cr_assert_eq(pl_sys_mmap(q, addr, len, prot, ANON | PL_MAP_FIXED, NULL, 0, &a), 0);
}

static uint32_t rdpkru(struct pl_proc *q)
{
    uint32_t v = 0;
    cr_assert_eq(pl_proc_rdpkru(q, &v), 0);
    return v;
}

struct leaf_keys {
    uint64_t va[16];
    uint64_t entry[16];
    unsigned n;
};

static void collect(void *ctx, uint64_t va, int level, uint64_t entry_pa, uint64_t entry)
{
    struct leaf_keys *lk = ctx;
    (void)level;
    (void)entry_pa;
    if (lk->n < 16) {
        lk->va[lk->n] = va;
        lk->entry[lk->n++] = entry;
    }
}

static uint64_t entry_of(struct pl_proc *q, uint64_t va)
{
    struct leaf_keys lk = {0};
    pl_proc_foreach_pte(q, collect, &lk);
    for (unsigned i = 0; i < lk.n; i++)
        if (lk.va[i] == va)
            return lk.entry[i];
    cr_assert_fail("no entry at 0x%llx", (unsigned long long)va);
    return 0;
}

Test(pkey, key0_is_the_default)
{
    cr_assert_eq(pl_proc_pkeys(p), 1);
    cr_assert_eq(rdpkru(p), PL_PKRU_INIT);
    cr_assert_eq(PL_PKRU_INIT, UINT32_C(0x55555554));
    map_fixed(p, X, PG, RW);
    uint8_t b = 1;
    cr_assert_eq(pl_proc_write(p, X, &b, 1), 0);
    cr_assert_eq(KEY_OF(entry_of(p, X)), 0);
    cr_assert_eq(pl_vma_find(pl_proc_vmas(p), X)->pkey, 0);
    /* key 0 is open in the initial PKRU: nothing faulted */
    cr_assert_eq(pl_proc_stats(p)->signals, 0);
}

Test(pkey, alloc_gives_the_lowest_free_key_and_sets_its_rights)
{
    cr_assert_eq(pl_sys_pkey_alloc(p, 0, 0), 1);
    cr_assert_eq(rdpkru(p), UINT32_C(0x55555550)); /* key 1: AD and WD cleared */
    cr_assert_eq(pl_sys_pkey_alloc(p, 0, PL_PKEY_DISABLE_WRITE), 2);
    cr_assert_eq(rdpkru(p), UINT32_C(0x55555560)); /* key 2: WD only */
    cr_assert_eq(pl_sys_pkey_alloc(p, 0, PL_PKEY_DISABLE_ACCESS | PL_PKEY_DISABLE_WRITE), 3);
    cr_assert_eq(rdpkru(p), UINT32_C(0x555555E0));
    cr_assert_eq(pl_proc_pkeys(p), 0xF);
    cr_assert_eq(pl_sys_pkey_free(p, 2), 0);
    cr_assert_eq(rdpkru(p), UINT32_C(0x555555E0), "pkey_free leaves PKRU alone");
    cr_assert_eq(pl_sys_pkey_alloc(p, 0, PL_PKEY_DISABLE_ACCESS), 2, "a freed key is handed out again");
    cr_assert_eq(rdpkru(p), UINT32_C(0x555555D0));
}

Test(pkey, alloc_errors)
{
    cr_assert_eq(pl_sys_pkey_alloc(p, 1, 0), -EINVAL);
    cr_assert_eq(pl_sys_pkey_alloc(p, 0x80000000u, 0), -EINVAL);
    cr_assert_eq(pl_sys_pkey_alloc(p, 0, 4), -EINVAL);
    cr_assert_eq(pl_sys_pkey_alloc(p, 0, 0xFFFFFFFFu), -EINVAL);
    cr_assert_eq(pl_proc_pkeys(p), 1, "a refused pkey_alloc takes no key");
    cr_assert_eq(rdpkru(p), PL_PKRU_INIT);
    for (int key = 1; key <= 15; key++)
        cr_assert_eq(pl_sys_pkey_alloc(p, 0, 0), key);
    cr_assert_eq(pl_proc_pkeys(p), 0xFFFF);
    cr_assert_eq(pl_sys_pkey_alloc(p, 0, 0), -ENOSPC);
    cr_assert_eq(pl_sys_pkey_alloc(p, 1, 0), -EINVAL, "bad flags are EINVAL even when full");
    cr_assert_eq(pl_sys_pkey_free(p, 7), 0);
    cr_assert_eq(pl_sys_pkey_alloc(p, 0, 0), 7);
}

Test(pkey, free_errors)
{
    cr_assert_eq(pl_sys_pkey_free(p, 0), -EINVAL);
    cr_assert_eq(pl_sys_pkey_free(p, 1), -EINVAL);
    cr_assert_eq(pl_sys_pkey_free(p, -1), -EINVAL);
    cr_assert_eq(pl_sys_pkey_free(p, 16), -EINVAL);
    cr_assert_eq(pl_sys_pkey_alloc(p, 0, 0), 1);
    cr_assert_eq(pl_sys_pkey_free(p, 1), 0);
    cr_assert_eq(pl_sys_pkey_free(p, 1), -EINVAL, "double free");
    cr_assert_eq(pl_proc_pkeys(p), 1);
}

Test(pkey, mprotect_errors)
{
    map_fixed(p, X, 4 * PG, RW);
    cr_assert_eq(pl_sys_pkey_mprotect(p, X, PG, RW, 1), -EINVAL, "key 1 not allocated");
    cr_assert_eq(pl_sys_pkey_mprotect(p, X, PG, RW, 16), -EINVAL);
    cr_assert_eq(pl_sys_pkey_mprotect(p, X, PG, RW, -2), -EINVAL);
    int key = pl_sys_pkey_alloc(p, 0, 0);
    cr_assert_eq(key, 1);
    cr_assert_eq(pl_sys_pkey_mprotect(p, X + 1, PG, RW, key), -EINVAL, "unaligned");
    cr_assert_eq(pl_sys_pkey_mprotect(p, X, PG, 8, key), -EINVAL, "unknown prot bit");
    cr_assert_eq(pl_sys_pkey_mprotect(p, X, 0, RW, 9), 0, "length 0 returns before the key is checked");
    cr_assert_eq(pl_sys_pkey_mprotect(p, X, 8 * PG, RW, key), -ENOMEM, "a hole");
    cr_assert_eq(pl_sys_pkey_mprotect(p, X - PG, 2 * PG, RW, 5), -EINVAL, "the key before the range");
    cr_assert_eq(pl_vma_set_count(pl_proc_vmas(p)), 1);
    cr_assert_eq(pl_vma_find(pl_proc_vmas(p), X)->pkey, 0, "a refused call changes nothing");
    cr_assert_eq(pl_sys_pkey_free(p, key), 0);
    cr_assert_eq(pl_sys_pkey_mprotect(p, X, PG, RW, key), -EINVAL, "a freed key");
    cr_assert_eq(pl_sys_pkey_mprotect(p, X, PG, RO, 0), 0, "key 0 is always allocated");
}

Test(pkey, the_key_goes_into_the_entries)
{
    map_fixed(p, X, 4 * PG, RW);
    uint8_t b = 7;
    cr_assert_eq(pl_proc_write(p, X, &b, 1), 0);
    cr_assert_eq(pl_proc_write(p, X + PG, &b, 1), 0);
    int key = pl_sys_pkey_alloc(p, 0, 0);
    cr_assert_eq(pl_sys_pkey_mprotect(p, X + PG, 2 * PG, RW, key), 0);
    const struct pl_vma_set *vs = pl_proc_vmas(p);
    cr_assert_eq(pl_vma_set_count(vs), 3);
    cr_assert_eq(pl_vma_find(vs, X)->pkey, 0);
    cr_assert_eq(pl_vma_find(vs, X + PG)->pkey, key);
    cr_assert_eq(pl_vma_find(vs, X + 3 * PG)->pkey, 0);
    cr_assert_eq(KEY_OF(entry_of(p, X)), 0);
    cr_assert_eq(KEY_OF(entry_of(p, X + PG)), (unsigned)key, "a mapped page takes the key at once");
    cr_assert_eq(pl_proc_write(p, X + 2 * PG, &b, 1), 0);
    cr_assert_eq(KEY_OF(entry_of(p, X + 2 * PG)), (unsigned)key, "a page faulted in takes its region's key");
    /* plain mprotect keeps the key, PROT_NONE entries keep it too */
    cr_assert_eq(pl_sys_mprotect(p, X + PG, PG, PL_PROT_NONE), 0);
    cr_assert_eq(KEY_OF(entry_of(p, X + PG)), (unsigned)key);
    cr_assert_eq(pl_sys_pkey_mprotect(p, X + PG, PG, RW, -1), 0);
    cr_assert_eq(KEY_OF(entry_of(p, X + PG)), (unsigned)key);
    assert_consistent();
    /* back to key 0: the regions merge again */
    cr_assert_eq(pl_sys_pkey_mprotect(p, X + PG, 2 * PG, RW, 0), 0);
    cr_assert_eq(pl_vma_set_count(vs), 1);
    cr_assert_eq(KEY_OF(entry_of(p, X + PG)), 0);
}

Test(pkey, a_key_change_invalidates_the_tlb)
{
    map_fixed(p, X, PG, RW);
    uint8_t b = 7;
    cr_assert_eq(pl_proc_write(p, X, &b, 1), 0); /* cached in the TLB, key 0 */
    int key = pl_sys_pkey_alloc(p, 0, PL_PKEY_DISABLE_ACCESS);
    uint64_t flushes = pl_kernel_stats(k)->tlb_flush_pages;
    cr_assert_eq(pl_sys_pkey_mprotect(p, X, PG, RW, key), 0);
    cr_assert_eq(pl_kernel_stats(k)->tlb_flush_pages, flushes + 1);
    /* a stale key-0 translation would let this read through */
    cr_assert_eq(pl_proc_read(p, X, &b, 1), -EFAULT);
    cr_assert_eq(pl_proc_state(p), PL_PROC_KILLED);
    cr_assert_eq(pl_proc_kill_info(p)->code, PL_SEGV_PKUERR);
}

struct caught {
    unsigned n;
    struct pl_siginfo si;
    uint32_t fix; /* PKRU the handler installs, 0: abandon */
};

static enum pl_sig_action catch(struct pl_proc *q, const struct pl_siginfo *si, void *ctx)
{
    struct caught *c = ctx;
    c->n++;
    c->si = *si;
    if (!c->fix)
        return PL_SIG_ABANDON;
    cr_assert_eq(pl_proc_wrpkru(q, c->fix), 0);
    return PL_SIG_RETRY;
}

Test(pkey, a_pk_fault_is_a_signal_with_the_key)
{
    map_fixed(p, X, 2 * PG, RW);
    int k1 = pl_sys_pkey_alloc(p, 0, 0);
    int k2 = pl_sys_pkey_alloc(p, 0, PL_PKEY_DISABLE_WRITE);
    cr_assert_eq(k2, 2);
    cr_assert_eq(pl_sys_pkey_mprotect(p, X, PG, RW, k1), 0);
    cr_assert_eq(pl_sys_pkey_mprotect(p, X + PG, PG, RW, k2), 0);
    struct caught c = {0};
    pl_proc_set_signal_handler(p, catch, &c);
    uint8_t b = 1;
    cr_assert_eq(pl_proc_read(p, X + PG, &b, 1), 0, "WD does not stop reads");
    cr_assert_eq(pl_proc_write(p, X + PG, &b, 1), -EFAULT);
    cr_assert_eq(c.n, 1);
    cr_assert_eq(c.si.code, PL_SEGV_PKUERR);
    cr_assert_eq(c.si.pkey, 2);
    cr_assert_eq(c.si.addr, X + PG);
    cr_assert_eq(c.si.error_code, PL_PF_P | PL_PF_W | PL_PF_U | PL_PF_PK); /* 0x27 */
    cr_assert_eq(c.si.kind, PL_WRITE);
    /* AD on key 1: a read faults with 0x25; the handler opens the key */
    cr_assert_eq(pl_proc_wrpkru(p, rdpkru(p) | PL_PKRU_AD(1)), 0);
    c.fix = rdpkru(p) & ~PL_PKRU_AD(1);
    cr_assert_eq(pl_proc_read(p, X, &b, 1), 0);
    cr_assert_eq(c.n, 2);
    cr_assert_eq(c.si.pkey, 1);
    cr_assert_eq(c.si.error_code, PL_PF_P | PL_PF_U | PL_PF_PK);
    /* no handler: killed, the key in the kill info */
    pl_proc_set_signal_handler(p, NULL, NULL);
    cr_assert_eq(pl_proc_write(p, X + PG, &b, 1), -EFAULT);
    cr_assert_eq(pl_proc_state(p), PL_PROC_KILLED);
    cr_assert_eq(pl_proc_kill_info(p)->pkey, 2);
    cr_assert_eq(pl_proc_kill_info(p)->code, PL_SEGV_PKUERR);
}

Test(pkey, freeing_a_key_in_use_leaves_it_on_the_pages)
{
    map_fixed(p, X, PG, RW);
    int key = pl_sys_pkey_alloc(p, 0, PL_PKEY_DISABLE_WRITE);
    cr_assert_eq(pl_sys_pkey_mprotect(p, X, PG, RW, key), 0);
    uint8_t b = 1;
    cr_assert_eq(pl_proc_read(p, X, &b, 1), 0);
    cr_assert_eq(pl_sys_pkey_free(p, key), 0);
    cr_assert_eq(KEY_OF(entry_of(p, X)), (unsigned)key);
    cr_assert_eq(pl_vma_find(pl_proc_vmas(p), X)->pkey, key);
    assert_consistent();
    cr_assert_eq(pl_proc_write(p, X, &b, 1), -EFAULT, "PKRU still has WD for the key");
    cr_assert_eq(pl_proc_kill_info(p)->pkey, key);
}

Test(pkey, pkru_is_saved_and_restored_across_switches)
{
    struct pl_proc *q;
    cr_assert_eq(pl_proc_spawn(k, &q), 0);
    map_fixed(p, X, PG, RW);
    map_fixed(q, X, PG, RW);
    int kp = pl_sys_pkey_alloc(p, 0, 0), kq = pl_sys_pkey_alloc(q, 0, 0);
    cr_assert_eq(kp, 1);
    cr_assert_eq(kq, 1, "keys are per process");
    cr_assert_eq(pl_sys_pkey_mprotect(p, X, PG, RW, kp), 0);
    cr_assert_eq(pl_sys_pkey_mprotect(q, X, PG, RW, kq), 0);
    cr_assert_eq(pl_proc_wrpkru(p, PL_PKRU_WD(1)), 0);
    cr_assert_eq(pl_cpu_regs(m->cpu[0])->pkru, PL_PKRU_WD(1));
    cr_assert_eq(pl_proc_wrpkru(q, 0), 0);
    cr_assert_eq(pl_cpu_regs(m->cpu[0])->pkru, 0);
    uint64_t switches = pl_kernel_stats(k)->context_switches;
    uint8_t b = 1;
    cr_assert_eq(pl_proc_write(q, X, &b, 1), 0, "q's key is open in q's PKRU");
    cr_assert_eq(rdpkru(p), PL_PKRU_WD(1));
    cr_assert_eq(pl_cpu_regs(m->cpu[0])->pkru, PL_PKRU_WD(1), "switching to p loaded p's PKRU");
    cr_assert_eq(pl_kernel_stats(k)->context_switches, switches + 1);
    cr_assert_eq(rdpkru(q), 0);
    struct caught c = {0};
    pl_proc_set_signal_handler(p, catch, &c);
    cr_assert_eq(pl_proc_write(p, X, &b, 1), -EFAULT, "p's WD came back with p");
    cr_assert_eq(c.si.pkey, 1);
    cr_assert_eq(pl_proc_write(q, X, &b, 1), 0);
}

Test(pkey, fork_inherits_pkru_and_keys_exec_resets_them)
{
    int key = pl_sys_pkey_alloc(p, 0, PL_PKEY_DISABLE_WRITE);
    map_fixed(p, X, PG, RW);
    cr_assert_eq(pl_sys_pkey_mprotect(p, X, PG, RW, key), 0);
    uint8_t b = 1;
    cr_assert_eq(pl_proc_read(p, X, &b, 1), 0);
    cr_assert_eq(pl_proc_wrpkru(p, UINT32_C(0x12345678)), 0);
    struct pl_proc *c;
    cr_assert_eq(pl_proc_fork(p, &c), 0);
    cr_assert_eq(rdpkru(c), UINT32_C(0x12345678));
    cr_assert_eq(pl_proc_pkeys(c), pl_proc_pkeys(p));
    cr_assert_eq(KEY_OF(entry_of(c, X)), (unsigned)key, "the child's entries keep the key");
    cr_assert_eq(pl_sys_pkey_alloc(c, 0, 0), 2);
    cr_assert_eq(pl_proc_pkeys(p), 3, "the child's keys are its own");
    cr_assert_eq(rdpkru(p), UINT32_C(0x12345678));
    cr_assert_eq(rdpkru(c), UINT32_C(0x12345648), "key 2's bits cleared in the child only");
    cr_assert_eq(pl_proc_exec(c), 0);
    cr_assert_eq(pl_proc_pkeys(c), 1);
    cr_assert_eq(rdpkru(c), PL_PKRU_INIT);
    cr_assert_eq(rdpkru(p), UINT32_C(0x12345678));
}

Test(pkey, wrpkru_enters_no_kernel_and_flushes_nothing)
{
    map_fixed(p, X, PG, RW);
    int key = pl_sys_pkey_alloc(p, 0, 0);
    cr_assert_eq(pl_sys_pkey_mprotect(p, X, PG, RW, key), 0);
    uint8_t b = 1;
    cr_assert_eq(pl_proc_write(p, X, &b, 1), 0);
    struct pl_cpu *cpu = m->cpu[0];
    struct pl_tlb_stats tlb = *pl_tlb_stats(pl_cpu_tlb(cpu));
    struct pl_kernel_stats ks = *pl_kernel_stats(k);
    struct pl_cpu_stats cs = *pl_cpu_stats(cpu);
    uint32_t v = rdpkru(p);
    cr_assert_eq(pl_proc_wrpkru(p, v | PL_PKRU_WD(key)), 0);
    cr_assert_eq(memcmp(&tlb, pl_tlb_stats(pl_cpu_tlb(cpu)), sizeof tlb), 0, "TLB counters unchanged");
    cr_assert_eq(memcmp(&ks, pl_kernel_stats(k), sizeof ks), 0, "no system call, no kernel cycle");
    cr_assert_eq(pl_cpu_stats(cpu)->cycles, cs.cycles + 24 + 1, "one RDPKRU and one WRPKRU");
    cr_assert_eq(pl_cpu_regs(cpu)->cpl, 0, "back in the simulator's kernel mode");
    /* the translation is still cached, and PKRU is checked on the hit */
    struct caught c = {0};
    pl_proc_set_signal_handler(p, catch, &c);
    uint64_t walks = pl_cpu_stats(cpu)->walks;
    cr_assert_eq(pl_proc_write(p, X, &b, 1), -EFAULT);
    cr_assert_eq(pl_cpu_stats(cpu)->walks, walks, "decided from the TLB entry, no walk");
    cr_assert_eq(pl_cpu_stats(cpu)->tlb_faults, cs.tlb_faults + 1);
    cr_assert_eq(c.si.error_code, 0x27);
    cr_assert_eq(c.si.pkey, key);
}

Test(pkey, without_pke)
{
    teardown();
    boot(false);
    cr_assert_eq(pl_sys_pkey_alloc(p, 0, 0), -ENOSPC);
    cr_assert_eq(pl_sys_pkey_alloc(p, 1, 0), -EINVAL);
    map_fixed(p, X, PG, RW);
    cr_assert_eq(pl_sys_pkey_mprotect(p, X, PG, RO, 0), 0);
    cr_assert_eq(pl_sys_pkey_mprotect(p, X, PG, RO, 1), -EINVAL);
    cr_assert_eq(pl_proc_wrpkru(p, 0), -EINVAL);
    uint32_t v;
    cr_assert_eq(pl_proc_rdpkru(p, &v), -EINVAL);
    cr_assert_eq(pl_sys_pkey_free(p, 1), -EINVAL);
    cr_assert_eq(pl_cpu_regs(m->cpu[0])->cr4 & PL_CR4_PKE, 0);
}

Test(pkey, read_into_copies_as_the_kernel)
{
    map_fixed(p, X, 3 * PG, RW);
    uint8_t data[200], back[200];
    for (unsigned i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 7 + 1);
    struct pl_siginfo f = {0};
    /* across a page boundary, into pages never touched: the kernel's own
     * faults zero-fill them */
    cr_assert_eq(pl_sys_read_into(p, X + PG - 100, data, sizeof data, &f), 0);
    cr_assert_eq(pl_proc_read(p, X + PG - 100, back, sizeof back), 0);
    cr_assert_eq(memcmp(data, back, sizeof data), 0);
    cr_assert_eq(pl_proc_stats(p)->zero_fill, 2);
    cr_assert_eq(pl_proc_stats(p)->signals, 0);
    /* a read-only page: the copy fails, no signal */
    cr_assert_eq(pl_sys_mprotect(p, X + 2 * PG, PG, RO), 0);
    cr_assert_eq(pl_sys_read_into(p, X + 2 * PG, data, 8, &f), -EFAULT);
    cr_assert_eq(f.code, PL_SEGV_ACCERR);
    cr_assert_eq(f.error_code, PL_PF_W, "not present yet, supervisor write: 0x2");
    cr_assert_eq(pl_proc_read(p, X + 2 * PG, back, 1), 0);
    cr_assert_eq(pl_sys_read_into(p, X + 2 * PG, data, 8, &f), -EFAULT);
    cr_assert_eq(f.error_code, PL_PF_P | PL_PF_W, "present, CR0.WP: 0x3");
    /* nothing mapped */
    cr_assert_eq(pl_sys_read_into(p, X + 8 * PG, data, 8, &f), -EFAULT);
    cr_assert_eq(f.code, PL_SEGV_MAPERR);
    /* a kernel address */
    cr_assert_eq(pl_sys_read_into(p, pl_kernel_direct_map(k), data, 8, &f), -EFAULT);
    cr_assert_eq(f.code, PL_SEGV_MAPERR);
    /* WD for the page's key: the kernel's write faults with PK */
    int key = pl_sys_pkey_alloc(p, 0, 0);
    cr_assert_eq(pl_sys_pkey_mprotect(p, X, PG, RW, key), 0);
    cr_assert_eq(pl_proc_wrpkru(p, rdpkru(p) | PL_PKRU_WD(key)), 0);
    memset(&f, 0, sizeof f);
    cr_assert_eq(pl_sys_read_into(p, X + 16, data, 8, &f), -EFAULT);
    cr_assert_eq(f.error_code, 0x23, "P|W|PK, U/S = 0");
    cr_assert_eq(f.code, PL_SEGV_PKUERR);
    cr_assert_eq(f.pkey, key);
    cr_assert_eq(f.addr, X + 16);
    cr_assert_eq(pl_proc_state(p), PL_PROC_RUNNING);
    cr_assert_eq(pl_proc_stats(p)->signals, 0);
    cr_assert_eq(pl_proc_read(p, X + 16, back, 8), 0);
    static const uint8_t zero[8];
    cr_assert_eq(memcmp(back, zero, 8), 0, "the faulting copy wrote nothing");
    /* with WD cleared the same copy succeeds */
    cr_assert_eq(pl_proc_wrpkru(p, rdpkru(p) & ~PL_PKRU_WD(key)), 0);
    cr_assert_eq(pl_sys_read_into(p, X + 16, data, 8, &f), 0);
    cr_assert_eq(pl_proc_read(p, X + 16, back, 8), 0);
    cr_assert_eq(memcmp(back, data, 8), 0);
}

static uint64_t found_entry_pa;
static void find_entry(void *ctx, uint64_t va, int level, uint64_t entry_pa, uint64_t entry)
{
    (void)level;
    (void)entry;
    if (va == *(uint64_t *)ctx)
        found_entry_pa = entry_pa;
}

Test(pkey, the_checker_compares_entry_and_region_keys)
{
    map_fixed(p, X, PG, RW);
    uint8_t b = 1;
    cr_assert_eq(pl_proc_write(p, X, &b, 1), 0);
    uint64_t va = X;
    pl_proc_foreach_pte(p, find_entry, &va);
    uint64_t e = pl_physmem_read64(m->mem, found_entry_pa);
    pl_physmem_write64(m->mem, found_entry_pa, e | (UINT64_C(3) << 59));
    char msg[256];
    cr_assert_eq(pl_kernel_check(k, msg, sizeof msg), PL_EINVAL);
    cr_assert(strstr(msg, "key 3 in a region with key 0"), "%s", msg);
    pl_physmem_write64(m->mem, found_entry_pa, e);
}

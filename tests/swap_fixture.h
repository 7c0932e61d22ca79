/* Helpers shared by test_swap, test_reclaim and test_oom: a kernel booted
 * with a swap configuration, and page-level probes. Include after
 * os_fixture.h. */
#ifndef PTELAB_TESTS_SWAP_FIXTURE_H
#define PTELAB_TESTS_SWAP_FIXTURE_H

#include <string.h>

#include "ptelab/swap.h"

/* Boots a machine of ram_mib MiB and a kernel with swap configuration sc,
 * and transparent huge pages when huge_anon. */
static inline void boot_swap_pages(uint64_t ram_mib, const struct pl_swap_config *sc, bool huge_anon)
{
    struct pl_machine_config mc = os_machine_config();
    mc.ram_size = ram_mib << 20;
    struct pl_kernel_config kc;
    pl_kernel_config_default(&kc);
    kc.history = false;
    kc.swap = *sc;
    kc.huge_anon = huge_anon;
    boot(&mc, &kc);
}

/* boot_swap_pages with 4 KiB pages only. */
static inline void boot_swap(uint64_t ram_mib, const struct pl_swap_config *sc)
{
    boot_swap_pages(ram_mib, sc, false);
}

static inline struct pl_swap_stats swap_stats(void)
{
    struct pl_swap_stats st;
    pl_kernel_swap_stats(k, &st);
    return st;
}

struct present_probe {
    uint64_t va;
    bool found;
};

static inline void present_visit(void *ctx, uint64_t va, int level, uint64_t entry_pa, uint64_t entry)
{
    struct present_probe *pp = ctx;
    (void)level;
    (void)entry_pa;
    if (va == pp->va && (entry & E_P))
        pp->found = true;
}

/* True when p has a present leaf for the page at va. */
static inline bool page_present(struct pl_proc *p, uint64_t va)
{
    struct present_probe pp = {.va = va};
    pl_proc_foreach_pte(p, present_visit, &pp);
    return pp.found;
}

/* Fills the page at va with bytes derived from seed. */
static inline void fill_page(struct pl_proc *p, uint64_t va, unsigned seed)
{
    uint8_t buf[4096];
    for (unsigned i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)(seed * 31 + i * 7 + (i >> 8));
    cr_assert_eq(pl_proc_write(p, va, buf, sizeof buf), 0);
}

/* Asserts the page at va holds what fill_page(seed) wrote. */
static inline void expect_page(struct pl_proc *p, uint64_t va, unsigned seed)
{
    uint8_t buf[4096], want[4096];
    for (unsigned i = 0; i < sizeof want; i++)
        want[i] = (uint8_t)(seed * 31 + i * 7 + (i >> 8));
    cr_assert_eq(pl_proc_read(p, va, buf, sizeof buf), 0);
    cr_assert(memcmp(buf, want, sizeof buf) == 0, "page 0x%llx lost its contents", (unsigned long long)va);
}

#endif

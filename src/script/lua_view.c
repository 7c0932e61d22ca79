/* What a script prints: page tables, walks, entry histories, decoded
 * entries. Views read memory and change nothing. */
#include <inttypes.h>
#include <string.h>

#include "cases/explain.h"
#include "hw/pte.h"
#include "ptelab/physmem.h"
#include "script/binding.h"

static const char *entry_name(int level)
{
    static const char *const names[] = {"?", "PTE", "PDE", "PDPTE", "PML4E", "PML5E"};
    return level >= 1 && level <= 5 ? names[level] : "?";
}

static unsigned bit(uint64_t e, uint64_t mask) { return (e & mask) ? 1 : 0; }

const char *describe_entry(char *buf, size_t len, uint64_t e, int level)
{
    if (e == 0) {
        snprintf(buf, len, "empty");
        return buf;
    }
    if (!(e & PTE_P)) {
        snprintf(buf, len, "not present");
        return buf;
    }
    int n = snprintf(buf, len, "P=1 RW=%u US=%u A=%u", bit(e, PTE_RW), bit(e, PTE_US), bit(e, PTE_A));
    if (n < 0 || (size_t)n >= len)
        return buf;
    if (!pte_is_leaf(e, level)) {
        snprintf(buf + n, len - (size_t)n, " XD=%u table 0x%016" PRIx64, bit(e, PTE_XD), pte_addr(e, level));
        return buf;
    }
    const char *what = level == PTE_LEVEL_PT ? "frame" : level == PTE_LEVEL_PD ? "2M page" : "1G page";
    int m = snprintf(buf + n, len - (size_t)n, " D=%u G=%u XD=%u", bit(e, PTE_D), bit(e, PTE_G), bit(e, PTE_XD));
    if (m < 0 || (size_t)(n += m) >= len)
        return buf;
    if (pte_pkey(e)) {
        m = snprintf(buf + n, len - (size_t)n, " pkey=%u", pte_pkey(e));
        if (m < 0 || (size_t)(n += m) >= len)
            return buf;
    }
    snprintf(buf + n, len - (size_t)n, " %s 0x%016" PRIx64, what, pte_addr(e, level));
    return buf;
}

bool lookup_entry(struct pl_kernel *k, uint64_t root, uint64_t va, uint64_t *entry, uint64_t *entry_pa, int *level)
{
    const struct pl_machine *m = pl_kernel_machine(k);
    int levels = (int)m->config.levels;
    if (!root || !pl_la_canonical(va, (unsigned)levels))
        return false;
    uint64_t table = root;
    for (int l = levels; l >= 1; l--) {
        uint64_t pa = table + 8 * pte_index(va, l);
        uint64_t e = pl_physmem_read64(m->mem, pa);
        if (l == 1 || ((e & PTE_P) && pte_is_leaf(e, l))) {
            *entry = e;
            *entry_pa = pa;
            *level = l;
            return true;
        }
        if (!(e & PTE_P))
            return false;
        table = e & PTE_ADDR_MASK;
    }
    return false;
}

struct table_ctx {
    FILE *f;
    uint64_t pages;
};

static void print_leaf(void *ctx, uint64_t va, int level, uint64_t entry_pa, uint64_t entry)
{
    struct table_ctx *c = ctx;
    char d[128];
    fprintf(c->f, "  0x%016" PRIx64 "  %s at 0x%016" PRIx64 " = 0x%016" PRIx64 "  %s\n", va, entry_name(level),
            entry_pa, entry, describe_entry(d, sizeof d, entry, level));
    c->pages++;
}

void view_page_table(FILE *f, struct pl_kernel *k, struct pl_proc *p)
{
    int pid = pl_proc_pid(p);
    if (pl_proc_state(p) != PL_PROC_RUNNING) {
        fprintf(f, "page table of pid %d: none (the process has %s)\n", pid,
                pl_proc_state(p) == PL_PROC_KILLED ? "been killed" : "exited");
        return;
    }
    fprintf(f, "page table of pid %d (root 0x%016" PRIx64 ", %u-level paging):\n", pid, pl_proc_root(p),
            pl_kernel_machine(k)->config.levels);
    struct table_ctx c = {.f = f};
    pl_proc_foreach_pte(p, print_leaf, &c);
    if (c.pages == 0)
        fputs("  (no pages mapped)\n", f);
}

bool view_walk(FILE *f, struct pl_kernel *k, struct pl_proc *p, uint64_t va, unsigned kind, unsigned cpl)
{
    static const char *const kinds[] = {"read", "write", "fetch"};
    struct pl_machine *m = pl_kernel_machine(k);
    int pid = pl_proc_pid(p);
    fprintf(f, "walk of 0x%016" PRIx64 " by pid %d (%s at CPL %u)", va, pid, kinds[kind % 3], cpl);
    if (pl_proc_state(p) != PL_PROC_RUNNING) {
        fprintf(f, ": none (the process has %s)\n", pl_proc_state(p) == PL_PROC_KILLED ? "been killed" : "exited");
        return false;
    }
    fputs(":\n", f);
    struct pl_mmu mmu = *pl_cpu_mmu(m->cpu[0]);
    mmu.cr3 = pl_proc_root(p);
    pl_mmu_update(&mmu);
    struct pl_walk_in in = {.la = va, .kind = (uint8_t)kind, .cpl = (uint8_t)cpl};
    struct pl_walk_out out;
    struct pl_fault fault;
    memset(&out, 0, sizeof out);
    memset(&fault, 0, sizeof fault);
    bool ok = pl_walk(&mmu, m->mem, &in, &out, &fault);
    /* A view leaves no trace: put back the accessed and dirty bits the
     * walk set (out.step holds every entry as read before its update). */
    for (unsigned i = 0; i < out.nsteps; i++)
        if (pl_physmem_read64(m->mem, out.step[i].entry_pa) != out.step[i].entry)
            pl_physmem_write64(m->mem, out.step[i].entry_pa, out.step[i].entry);
    explain_walk(f, &mmu, &in, ok, &out, &fault);
    return ok;
}

bool history_match(const struct history_filter *flt, const struct pl_pte_write *w)
{
    if (flt->by_pid && w->pid != flt->pid)
        return false;
    if (flt->by_level && w->level != flt->level)
        return false;
    if (flt->why >= 0 && w->why != flt->why)
        return false;
    if (flt->by_addr) {
        if (w->level < 1 || w->level > 5)
            return false;
        uint64_t span = UINT64_C(1) << pte_level_shift(w->level);
        if (flt->addr - w->va >= span)
            return false;
    }
    return true;
}

void view_history_record(FILE *f, const struct pl_pte_write *w)
{
    char d[128];
    if (w->pid)
        fprintf(f, "  #%" PRIu64 " pid %d %s:", w->seq, (int)w->pid, pl_why_name(w->why));
    else
        fprintf(f, "  #%" PRIu64 " kernel %s:", w->seq, pl_why_name(w->why));
    fprintf(f, " %s at 0x%016" PRIx64 " maps 0x%016" PRIx64 "\n", entry_name(w->level), w->entry_pa, w->va);
    fprintf(f, "      old 0x%016" PRIx64 "  %s\n", w->old, describe_entry(d, sizeof d, w->old, w->level));
    fprintf(f, "      new 0x%016" PRIx64 "  %s\n", w->new, describe_entry(d, sizeof d, w->new, w->level));
}

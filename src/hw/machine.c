#include "ptelab/machine.h"

#include <stdlib.h>

#include "ptelab/bus.h"
#include "ptelab/error.h"
#include "ptelab/physmem.h"

void pl_machine_config_default(struct pl_machine_config *cfg)
{
    *cfg = (struct pl_machine_config){
        .ram_size = UINT64_C(256) << 20,
        .ncpus = 1,
        .levels = 4,
        .maxphyaddr = 46,
        .pcid = true,
        .pge = true,
        .smep = true,
        .smap = true,
        .pke = true,
        .ad_policy = PL_AD_NONE_ON_FAULT,
        .cost = PL_COST_MODEL_DEFAULT,
        .seed = 1,
    };
    pl_tlb_config_default(&cfg->tlb);
    pl_cache_config_default(&cfg->cache);
}

static int config_check(const struct pl_machine_config *c)
{
    if (c->ncpus < 1 || c->ncpus > PL_MACHINE_MAX_CPUS || (c->levels != 4 && c->levels != 5))
        return PL_EINVAL;
    if (c->maxphyaddr < 32 || c->maxphyaddr > 52)
        return PL_EINVAL;
    if (c->ram_size < (UINT64_C(4) << 20) || c->ram_size % (UINT64_C(2) << 20) ||
        c->ram_size > (UINT64_C(1) << c->maxphyaddr))
        return PL_EINVAL;
    if (c->ad_policy > PL_AD_UPPER_ON_FAULT)
        return PL_EINVAL;
    if (pl_cache_config_check(&c->cache) < 0)
        return PL_EINVAL;
    return pl_tlb_config_check(&c->tlb);
}

/* Brings one CPU from its reset state to the configured paging mode, with
 * CR3 = 0 until a kernel loads one. */
static int cpu_configure(struct pl_cpu *cpu, const struct pl_machine_config *c)
{
    const struct pl_cpu_regs *r = pl_cpu_regs(cpu);
    int rc = 0;
    if (c->levels == 5 || c->maxphyaddr != r->maxphyaddr) {
        /* LA57 and MAXPHYADDR may change only with paging off */
        rc = pl_cpu_write_cr0(cpu, r->cr0 & ~PL_CR0_PG);
        if (!rc && c->maxphyaddr != r->maxphyaddr)
            rc = pl_cpu_set_maxphyaddr(cpu, c->maxphyaddr);
        if (!rc && c->levels == 5)
            rc = pl_cpu_write_cr4(cpu, r->cr4 | PL_CR4_LA57);
        if (!rc)
            rc = pl_cpu_write_cr0(cpu, r->cr0 | PL_CR0_PG);
    }
    uint64_t cr4 = r->cr4 | (c->pge ? PL_CR4_PGE : 0) | (c->pcid ? PL_CR4_PCIDE : 0) | (c->smep ? PL_CR4_SMEP : 0) |
                   (c->smap ? PL_CR4_SMAP : 0) | (c->pke ? PL_CR4_PKE : 0);
    if (!rc)
        rc = pl_cpu_write_cr4(cpu, cr4);
    if (!rc)
        rc = pl_cpu_set_ad_policy(cpu, c->ad_policy);
    return rc;
}

int pl_machine_new(const struct pl_machine_config *cfg, struct pl_machine **out)
{
    int rc = config_check(cfg);
    if (rc < 0)
        return rc;
    struct pl_machine *m = calloc(1, sizeof *m);
    if (!m)
        return PL_ENOMEM;
    m->config = *cfg;
    m->mem = pl_physmem_new();
    m->bus = m->mem ? pl_bus_new(m->mem, cfg->ram_size) : NULL;
    m->cache = m->bus ? pl_cache_new(&cfg->cache, m->bus, &cfg->cost) : NULL;
    if (!m->cache) {
        pl_machine_free(m);
        return PL_ENOMEM;
    }
    for (unsigned i = 0; i < cfg->ncpus; i++) {
        m->cpu[i] = pl_cpu_new(m->mem, &cfg->tlb, &cfg->cost);
        if (!m->cpu[i]) {
            pl_machine_free(m);
            return PL_ENOMEM;
        }
        m->ncpus++;
        if ((rc = cpu_configure(m->cpu[i], cfg)) < 0) {
            pl_machine_free(m);
            return rc;
        }
    }
    *out = m;
    return 0;
}

void pl_machine_free(struct pl_machine *m)
{
    if (!m)
        return;
    for (unsigned i = 0; i < m->ncpus; i++)
        pl_cpu_free(m->cpu[i]);
    pl_cache_free(m->cache);
    pl_bus_free(m->bus);
    pl_physmem_free(m->mem);
    free(m);
}

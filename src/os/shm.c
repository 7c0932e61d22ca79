/* os/shm: shared-memory objects, their pages created zeroed on first touch. */
#include <errno.h>
#include <stdlib.h>

#include "os/os.h"
#include "ptelab/error.h"

int pl_shm_create(struct pl_kernel *k, uint64_t size, struct pl_shm **out)
{
    if (size == 0 || size > k->m->config.ram_size * 64)
        return size ? -ENOMEM : -EINVAL;
    struct pl_shm *obj = calloc(1, sizeof *obj);
    uint64_t npages = (size + PL_VMA_PAGE_SIZE - 1) / PL_VMA_PAGE_SIZE;
    if (obj)
        obj->pages = calloc(npages, sizeof *obj->pages);
    if (!obj || !obj->pages) {
        free(obj);
        return -ENOMEM;
    }
    obj->k = k;
    obj->npages = npages;
    obj->held = true;
    obj->memtype = PL_MT_WB;
    obj->next = k->shm_list;
    if (obj->next)
        obj->next->prev_next = &obj->next;
    obj->prev_next = &k->shm_list;
    k->shm_list = obj;
    *out = obj;
    return 0;
}

uint64_t pl_shm_size(const struct pl_shm *obj) { return obj->npages * PL_VMA_PAGE_SIZE; }

void shm_destroy(struct pl_shm *obj)
{
    for (uint64_t i = 0; i < obj->npages; i++)
        if (obj->pages[i])
            pl_frame_put(obj->k->frames, obj->pages[i]);
    *obj->prev_next = obj->next;
    if (obj->next)
        obj->next->prev_next = obj->prev_next;
    free(obj->pages);
    free(obj);
}

static void shm_destroy_if_unused(struct pl_shm *obj)
{
    if (!obj->held && !obj->mapped_pages)
        shm_destroy(obj);
}

void pl_shm_release(struct pl_shm *obj)
{
    obj->held = false;
    shm_destroy_if_unused(obj);
}

void shm_map_pages(struct pl_shm *obj, uint64_t n) { obj->mapped_pages += n; }

void shm_unmap_pages(struct pl_shm *obj, uint64_t n)
{
    obj->mapped_pages -= n;
    shm_destroy_if_unused(obj);
}

int shm_page(struct pl_shm *obj, uint64_t index, uint64_t *pa)
{
    if (obj->device) {
        *pa = obj->dev_base + index * PL_VMA_PAGE_SIZE;
        return 0;
    }
    if (!obj->pages[index]) {
        int rc = pl_frame_alloc(obj->k->frames, 0, PL_FRAME_USER, &obj->pages[index]);
        if (rc < 0)
            return rc;
        kernel_charge(obj->k, obj->k->m->config.cost.page_zero);
    }
    *pa = obj->pages[index];
    return 0;
}

/* os/frame: buddy split and coalesce, deterministic placement, zeroing,
 * reference counts, fault injection, bad arguments, the consistency checker,
 * and a property test against a reference model. */
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ptelab/error.h"
#include "ptelab/frame.h"
#include "ptelab/physmem.h"

#define KB(n) ((uint64_t)(n) << 10)
#define MB(n) ((uint64_t)(n) << 20)
#define GB(n) ((uint64_t)(n) << 30)
#define F(n) ((uint64_t)(n) << 12) /* address of frame n */

static struct pl_physmem *mem;
static struct pl_frame_allocator *fa;

static void setup(void)
{
    mem = pl_physmem_new();
    cr_assert_not_null(mem);
}

static void teardown(void)
{
    pl_frame_allocator_free(fa);
    fa = NULL;
    pl_physmem_free(mem);
}

TestSuite(frame, .init = setup, .fini = teardown);

static void make(uint64_t base, uint64_t size)
{
    fa = pl_frame_allocator_new(mem, base, size);
    cr_assert_not_null(fa);
}

static struct pl_frame_stats stats(void)
{
    struct pl_frame_stats st;
    pl_frame_stats_read(fa, &st);
    return st;
}

static void assert_consistent(void)
{
    char msg[256];
    int err = pl_frame_check(fa, msg, sizeof msg);
    cr_assert_eq(err, 0, "checker: %s", msg);
}

static uint64_t alloc_ok(unsigned order, uint16_t flags)
{
    uint64_t pa = UINT64_MAX;
    cr_assert_eq(pl_frame_alloc(fa, order, flags, &pa), 0, "order %u", order);
    return pa;
}

/* Asserts the free-block counts of orders 0..n-1 and that no larger free
 * block exists. */
static void assert_free_blocks(const uint64_t *want, unsigned n)
{
    struct pl_frame_stats st = stats();
    for (unsigned k = 0; k < PL_FRAME_ORDERS; k++)
        cr_assert_eq(st.free_blocks[k], k < n ? want[k] : 0, "order %u: %llu free blocks", k,
                     (unsigned long long)st.free_blocks[k]);
}

Test(frame, new_rejects_bad_ranges)
{
    cr_assert_null(pl_frame_allocator_new(mem, 0x800, MB(1)), "unaligned base");
    cr_assert_null(pl_frame_allocator_new(mem, 0, MB(1) + 1), "unaligned size");
    cr_assert_null(pl_frame_allocator_new(mem, 0, 0), "empty");
    cr_assert_null(pl_frame_allocator_new(mem, PL_PHYS_LIMIT - MB(1), MB(2)), "past 2^52");
    cr_assert_null(pl_frame_allocator_new(mem, UINT64_MAX & ~UINT64_C(0xFFF), KB(8)), "wraps");
    cr_assert_null(pl_frame_allocator_new(NULL, 0, MB(1)), "no memory");
    make(PL_PHYS_LIMIT - MB(1), MB(1));
    cr_assert_eq(stats().frames, 256, "the top megabyte below 2^52 is a valid range");
    assert_consistent();
}

Test(frame, unaligned_range_is_tiled_by_the_largest_aligned_blocks)
{
    /* frames [1, 31): 1 | 2-3 | 4-7 | 8-15 | 16-23 | 24-27 | 28-29 | 30 */
    make(F(1), F(30));
    uint64_t want[] = {2, 2, 2, 2};
    assert_free_blocks(want, 4);
    struct pl_frame_stats st = stats();
    cr_assert_eq(st.frames, 30);
    cr_assert_eq(st.free_frames, 30);
    const struct pl_frame *m = pl_frame_meta(fa, F(16) + 123);
    cr_assert_not_null(m);
    cr_assert_eq(m->flags, PL_FRAME_FREE | PL_FRAME_HEAD);
    cr_assert_eq(m->order, 3);
    uint64_t head;
    cr_assert_eq(pl_frame_head(fa, F(22), &head), 0);
    cr_assert_eq(head, F(16));
    assert_consistent();
}

Test(frame, first_allocation_splits_the_block_down_to_its_order)
{
    make(0, KB(64)); /* one order-4 block */
    assert_free_blocks((uint64_t[]){0, 0, 0, 0, 1}, 5);
    cr_assert_eq(alloc_ok(0, 0), 0);
    assert_free_blocks((uint64_t[]){1, 1, 1, 1}, 4); /* frames 1, 2-3, 4-7, 8-15 */
    struct pl_frame_stats st = stats();
    cr_assert_eq(st.splits, 4);
    cr_assert_eq(st.free_frames, 15);
    cr_assert_eq(st.allocated[0], 1);
    cr_assert_eq(pl_frame_meta(fa, F(2))->order, 1);
    cr_assert_eq(pl_frame_meta(fa, F(8))->order, 3);

    cr_assert_eq(alloc_ok(0, 0), F(1), "the free order-0 buddy, no split");
    cr_assert_eq(alloc_ok(0, 0), F(2), "splits 2-3");
    cr_assert_eq(alloc_ok(2, 0), F(4), "takes 4-7 whole");
    cr_assert_eq(alloc_ok(1, 0), F(8), "splits 8-15 into 8-9 | 10-11 | 12-15");
    assert_free_blocks((uint64_t[]){1, 1, 1}, 3);
    st = stats();
    cr_assert_eq(st.splits, 7);
    cr_assert_eq(st.free_frames, 16 - 1 - 1 - 1 - 4 - 2);
    assert_consistent();
}

Test(frame, freeing_coalesces_back_into_one_block)
{
    make(0, KB(64));
    uint64_t pa[16];
    for (int i = 0; i < 16; i++) {
        pa[i] = alloc_ok(0, 0);
        cr_assert_eq(pa[i], F(i), "order-0 blocks come out in address order");
    }
    cr_assert_eq(stats().free_frames, 0);
    uint64_t x = 0;
    cr_assert_eq(pl_frame_alloc(fa, 0, 0, &x), PL_ENOMEM);

    int order[16] = {5, 12, 0, 9, 3, 14, 7, 1, 10, 15, 2, 8, 4, 13, 6, 11};
    for (int i = 0; i < 16; i++) {
        cr_assert_eq(pl_frame_free(fa, pa[order[i]]), 0);
        assert_consistent();
    }
    assert_free_blocks((uint64_t[]){0, 0, 0, 0, 1}, 5);
    struct pl_frame_stats st = stats();
    cr_assert_eq(st.merges, 15, "16 blocks merge pairwise 8 + 4 + 2 + 1 times");
    cr_assert_eq(st.frees, 16);
    cr_assert_eq(st.free_frames, 16);
    cr_assert_eq(alloc_ok(4, 0), 0, "the whole range is one block again");
}

Test(frame, coalescing_stops_at_an_allocated_buddy)
{
    make(0, KB(64));
    uint64_t a = alloc_ok(0, 0), b = alloc_ok(0, 0), c = alloc_ok(1, 0);
    cr_assert_eq(a, F(0));
    cr_assert_eq(b, F(1));
    cr_assert_eq(c, F(2));
    cr_assert_eq(pl_frame_free(fa, a), 0);
    assert_free_blocks((uint64_t[]){1, 0, 1, 1}, 4); /* 0 | 4-7 | 8-15 */
    cr_assert_eq(pl_frame_free(fa, c), 0);
    assert_free_blocks((uint64_t[]){1, 1, 1, 1}, 4); /* 0 | 2-3 | 4-7 | 8-15 */
    cr_assert_eq(stats().merges, 0);
    cr_assert_eq(pl_frame_free(fa, b), 0);
    assert_free_blocks((uint64_t[]){0, 0, 0, 0, 1}, 5);
    cr_assert_eq(stats().merges, 4);
    assert_consistent();
}

Test(frame, allocation_takes_the_lowest_block_of_the_smallest_fitting_order)
{
    make(0, KB(64));
    for (int i = 0; i < 16; i++)
        alloc_ok(0, 0);
    /* free 0-1 (merges to order 1), 6, 9, 12-15 (order 2) */
    uint64_t freed[] = {0, 1, 6, 9, 12, 13, 14, 15};
    for (size_t i = 0; i < sizeof freed / sizeof *freed; i++)
        cr_assert_eq(pl_frame_free(fa, F(freed[i])), 0);
    assert_free_blocks((uint64_t[]){2, 1, 1}, 3);
    cr_assert_eq(alloc_ok(0, 0), F(6), "order 0 exists at 6 and 9: the lower; not a split of 0-1");
    cr_assert_eq(alloc_ok(0, 0), F(9));
    cr_assert_eq(alloc_ok(0, 0), F(0), "no order 0 left: split the lowest order 1");
    cr_assert_eq(alloc_ok(1, 0), F(12), "order 1 none: split 12-15");
    cr_assert_eq(alloc_ok(0, 0), F(1));
    cr_assert_eq(alloc_ok(0, 0), F(14));
    assert_consistent();
}

Test(frame, the_same_calls_give_the_same_addresses)
{
    uint64_t first[64];
    for (int run = 0; run < 2; run++) {
        make(F(3), MB(3));
        uint64_t x = 99;
        for (int i = 0; i < 64; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            uint64_t pa = alloc_ok((unsigned)(x % 6), 0);
            if (run == 0)
                first[i] = pa;
            else
                cr_assert_eq(pa, first[i], "allocation %d", i);
            if (x & 0x100)
                cr_assert_eq(pl_frame_free(fa, pa), 0);
        }
        pl_frame_allocator_free(fa);
        fa = NULL;
    }
}

Test(frame, blocks_are_aligned_to_their_size_in_physical_addresses)
{
    make(F(1), MB(8)); /* starts one frame past a 2M boundary */
    uint64_t big = alloc_ok(9, 0);
    cr_assert_eq(big, MB(2), "the first 2M-aligned 2M block inside the range");
    uint64_t small = alloc_ok(0, 0);
    cr_assert_eq(small, F(1), "the lone order-0 block at the start");
    cr_assert_eq(alloc_ok(9, 0), MB(4));
    cr_assert_eq(alloc_ok(9, 0), MB(6));
    uint64_t pa;
    cr_assert_eq(pl_frame_alloc(fa, 9, 0, &pa), PL_ENOMEM, "the range ends at 8M + 4K");
    assert_consistent();
}

Test(frame, a_1g_range_yields_one_1g_block)
{
    make(GB(1), GB(1));
    assert_free_blocks((uint64_t[]){0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 19);
    cr_assert_eq(alloc_ok(PL_FRAME_MAX_ORDER, PL_FRAME_USER), GB(1));
    cr_assert_eq(stats().allocated[PL_FRAME_MAX_ORDER], 1);
    cr_assert_eq(pl_frame_meta(fa, GB(1) + MB(700))->order, PL_FRAME_MAX_ORDER);
    assert_consistent();
}

Test(frame, every_block_handed_out_reads_zero_after_a_previous_owner)
{
    make(0, MB(1));
    static uint8_t pattern[KB(16)], back[KB(16)];
    memset(pattern, 0xA5, sizeof pattern);
    uint64_t pa = alloc_ok(2, PL_FRAME_USER);
    cr_assert_eq(pl_physmem_write(mem, pa, pattern, sizeof pattern), 0);
    cr_assert_eq(pl_frame_free(fa, pa), 0);
    uint64_t again = alloc_ok(2, PL_FRAME_USER);
    cr_assert_eq(again, pa, "the same block comes back");
    cr_assert_eq(pl_physmem_read(mem, again, back, sizeof back), 0);
    static const uint8_t zero[KB(16)];
    cr_assert_arr_eq(back, zero, sizeof back);
    struct pl_frame_stats st = stats();
    cr_assert_eq(st.bytes_zeroed, KB(16), "the second allocation cleared what the first owner wrote");
    cr_assert_eq(st.bytes_zero_skipped, KB(16), "the first found never-written frames");
}

Test(frame, zeroing_clears_only_frames_that_hold_data)
{
    /* Data placed before the allocator existed counts as a previous owner. */
    make(MB(2), MB(2));
    cr_assert_eq(pl_physmem_write64(mem, MB(2) + F(5) + 8, 0x1122334455667788), 0);
    cr_assert_eq(pl_physmem_write8(mem, MB(2) + F(100) + 4095, 0x77), 0);
    cr_assert_eq(pl_physmem_write8(mem, MB(4), 0x66), 0); /* outside the range */
    size_t frames_before = pl_physmem_frames(mem);
    uint64_t pa = alloc_ok(9, 0);
    cr_assert_eq(pa, MB(2));
    cr_assert_eq(pl_physmem_read64(mem, MB(2) + F(5) + 8), 0);
    cr_assert_eq(pl_physmem_read8(mem, MB(2) + F(100) + 4095), 0);
    cr_assert_eq(pl_physmem_read8(mem, MB(4)), 0x66, "memory outside the block is left alone");
    struct pl_frame_stats st = stats();
    cr_assert_eq(st.bytes_zeroed, 2 * 4096, "two frames held data");
    cr_assert_eq(st.bytes_zero_skipped, MB(2) - 2 * 4096);
    cr_assert_eq(pl_physmem_frames(mem), frames_before, "zeroing creates no frame");
}

Test(frame, a_1g_block_is_zeroed_where_it_was_written)
{
    make(0, GB(1));
    for (uint64_t off = 0; off < GB(1); off += MB(64) + F(3))
        cr_assert_eq(pl_physmem_write64(mem, off + 8, ~off), 0);
    uint64_t pa = alloc_ok(PL_FRAME_MAX_ORDER, 0);
    cr_assert_eq(pa, 0);
    for (uint64_t off = 0; off < GB(1); off += MB(64) + F(3))
        cr_assert_eq(pl_physmem_read64(mem, off + 8), 0, "offset %#llx", (unsigned long long)off);
    cr_assert_eq(stats().bytes_zeroed, 16 * 4096, "16 written frames");
}

Test(frame, reference_counts_free_the_block_at_the_last_put)
{
    make(0, MB(1));
    uint64_t pa = alloc_ok(3, PL_FRAME_USER | PL_FRAME_PINNED);
    struct pl_frame *m = pl_frame_meta(fa, pa);
    cr_assert_eq(m->refcount, 1);
    cr_assert_eq(m->mapcount, 0);
    cr_assert_eq(m->flags, PL_FRAME_HEAD | PL_FRAME_USER | PL_FRAME_PINNED);
    cr_assert_eq(m->order, 3);
    cr_assert_eq(pl_frame_meta(fa, pa + F(5)), m, "a tail frame leads to the block's entry");

    cr_assert_eq(pl_frame_get(fa, pa), 0);
    cr_assert_eq(pl_frame_get(fa, pa + F(7)), 0, "a tail frame references the block");
    cr_assert_eq(m->refcount, 3);
    cr_assert_eq(pl_frame_free(fa, pa), PL_EINVAL, "others still hold references");
    cr_assert_eq(pl_frame_put(fa, pa + F(2)), 0);
    cr_assert_eq(pl_frame_put(fa, pa), 0);
    cr_assert_eq(m->refcount, 1);
    cr_assert_eq(stats().allocated[3], 1);
    cr_assert_eq(stats().free_frames, 256 - 8);

    m->mapcount = 1; /* as pmap would, for one leaf entry */
    cr_assert_eq(pl_frame_put(fa, pa), PL_EINVAL, "the last put of a mapped block");
    cr_assert_eq(pl_frame_free(fa, pa), PL_EINVAL, "freeing a mapped block");
    cr_assert_eq(m->refcount, 1);
    m->mapcount = 0;

    cr_assert_eq(pl_frame_put(fa, pa), 0, "the last reference frees the block");
    struct pl_frame_stats st = stats();
    cr_assert_eq(st.allocated[3], 0);
    cr_assert_eq(st.free_frames, 256);
    cr_assert_eq(st.frees, 1);
    cr_assert_eq(pl_frame_meta(fa, pa)->flags, PL_FRAME_FREE | PL_FRAME_HEAD);
    cr_assert_eq(pl_frame_meta(fa, pa)->order, 8, "coalesced into the whole megabyte");
    cr_assert_eq(pl_frame_put(fa, pa), PL_EINVAL, "a put after the last");
    cr_assert_eq(pl_frame_get(fa, pa), PL_EINVAL, "a get of a free block");
    assert_consistent();
}

Test(frame, split_makes_every_frame_a_block_of_its_own)
{
    make(0, MB(4));
    uint64_t pa = alloc_ok(9, PL_FRAME_USER);
    cr_assert_eq(pa, 0);
    cr_assert_eq(pl_frame_split(fa, pa), 0);
    struct pl_frame_stats st = stats();
    cr_assert_eq(st.allocated[9], 0);
    cr_assert_eq(st.allocated[0], 512);
    cr_assert_eq(st.free_frames, 512, "a split allocates nothing more");
    for (unsigned i = 0; i < 512; i++) {
        const struct pl_frame *m = pl_frame_meta(fa, pa + F(i));
        cr_assert_eq(m->flags, PL_FRAME_HEAD | PL_FRAME_USER, "frame %u", i);
        cr_assert_eq(m->order, 0);
        cr_assert_eq(m->refcount, 1);
        cr_assert_eq(m->mapcount, 0);
    }
    assert_consistent();
    /* each frame is counted on its own */
    cr_assert_eq(pl_frame_get(fa, pa + F(7)), 0);
    cr_assert_eq(pl_frame_meta(fa, pa + F(7))->refcount, 2);
    cr_assert_eq(pl_frame_meta(fa, pa + F(6))->refcount, 1);
    cr_assert_eq(pl_frame_put(fa, pa + F(7)), 0);
    cr_assert_eq(pl_frame_split(fa, pa + F(3)), 0, "an order-0 block stays as it is");
    cr_assert_eq(pl_frame_meta(fa, pa + F(3))->refcount, 1);
    assert_consistent();
}

Test(frame, split_frames_freed_one_by_one_coalesce_into_the_block)
{
    make(0, MB(4));
    uint64_t pa = alloc_ok(9, PL_FRAME_USER);
    cr_assert_eq(pl_frame_split(fa, pa), 0);
    uint64_t merges = stats().merges;
    /* in a scrambled order: 7 is prime to 512, so i * 7 % 512 visits each frame once */
    for (unsigned i = 0; i < 512; i++) {
        unsigned f = i * 7 % 512;
        cr_assert_eq(pl_frame_put(fa, pa + F(f)), 0, "frame %u", f);
        if (i % 64 == 0)
            assert_consistent();
    }
    struct pl_frame_stats st = stats();
    cr_assert_eq(st.allocated[0], 0);
    cr_assert_eq(st.free_frames, 1024);
    cr_assert_eq(st.frees, 512, "every frame is returned on its own");
    cr_assert_eq(st.merges - merges, 511 + 1, "511 merges rebuild the 2M block, one more joins its buddy");
    assert_free_blocks((uint64_t[]){0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 11);
    assert_consistent();
    cr_assert_eq(alloc_ok(10, 0), 0, "the whole range is one block again");
}

Test(frame, split_refuses_shared_mapped_and_non_head_blocks)
{
    make(0, MB(4));
    uint64_t pa = alloc_ok(9, PL_FRAME_USER);
    cr_assert_eq(pl_frame_split(fa, pa + F(1)), PL_EINVAL, "a tail frame");
    cr_assert_eq(pl_frame_split(fa, MB(2)), PL_EINVAL, "a free block");
    cr_assert_eq(pl_frame_split(fa, pa + 1), PL_EINVAL, "unaligned");
    cr_assert_eq(pl_frame_split(fa, MB(8)), PL_EINVAL, "outside the range");
    cr_assert_eq(pl_frame_get(fa, pa), 0);
    cr_assert_eq(pl_frame_split(fa, pa), PL_EINVAL, "another reference");
    cr_assert_eq(pl_frame_put(fa, pa), 0);
    pl_frame_meta(fa, pa)->mapcount = 1;
    cr_assert_eq(pl_frame_split(fa, pa), PL_EINVAL, "mapped");
    pl_frame_meta(fa, pa)->mapcount = 0;
    cr_assert_eq(pl_frame_meta(fa, pa)->order, 9, "nothing changed");
    cr_assert_eq(stats().allocated[9], 1);
    assert_consistent();
}

Test(frame, get_refuses_to_overflow_the_count)
{
    make(0, MB(1));
    uint64_t pa = alloc_ok(0, 0);
    pl_frame_meta(fa, pa)->refcount = UINT32_MAX - 1;
    cr_assert_eq(pl_frame_get(fa, pa), 0);
    cr_assert_eq(pl_frame_get(fa, pa), PL_ERANGE);
    cr_assert_eq(pl_frame_meta(fa, pa)->refcount, UINT32_MAX);
}

Test(frame, fail_after_n_fails_exactly_the_nth_allocation_once)
{
    make(0, MB(1));
    uint64_t pa = 0;
    pl_frame_fail_after(fa, 3);
    cr_assert_eq(pl_frame_alloc(fa, 0, 0, &pa), 0);
    cr_assert_eq(pl_frame_alloc(fa, 99, 0, &pa), PL_EINVAL, "a bad request does not count");
    cr_assert_eq(pl_frame_alloc(fa, 0, 0, &pa), 0);
    pa = 0x5A5A;
    cr_assert_eq(pl_frame_alloc(fa, 0, 0, &pa), PL_ENOMEM);
    cr_assert_eq(pa, 0x5A5A, "a failed allocation leaves *pa alone");
    cr_assert_eq(pl_frame_alloc(fa, 0, 0, &pa), 0, "the failure happens once");
    struct pl_frame_stats st = stats();
    cr_assert_eq(st.allocs, 3);
    cr_assert_eq(st.failures, 1);
    cr_assert_eq(st.injected_failures, 1);
    cr_assert_eq(st.free_frames, 256 - 3);

    pl_frame_fail_after(fa, 1);
    cr_assert_eq(pl_frame_alloc(fa, 4, 0, &pa), PL_ENOMEM, "1 is the next allocation");
    pl_frame_fail_after(fa, 2);
    pl_frame_fail_after(fa, 0);
    for (int i = 0; i < 5; i++)
        cr_assert_eq(pl_frame_alloc(fa, 0, 0, &pa), 0, "0 cancels");
    cr_assert_eq(stats().injected_failures, 2);
    assert_consistent();
}

Test(frame, exhaustion_fails_with_enomem_and_counts)
{
    make(0, KB(16));
    uint64_t pa;
    cr_assert_eq(pl_frame_alloc(fa, 3, 0, &pa), PL_ENOMEM, "larger than the range");
    alloc_ok(1, 0);
    cr_assert_eq(pl_frame_alloc(fa, 2, 0, &pa), PL_ENOMEM, "half is left");
    alloc_ok(1, 0);
    cr_assert_eq(pl_frame_alloc(fa, 0, 0, &pa), PL_ENOMEM);
    struct pl_frame_stats st = stats();
    cr_assert_eq(st.failures, 3);
    cr_assert_eq(st.injected_failures, 0);
    cr_assert_eq(st.allocs, 2);
    assert_consistent();
}

Test(frame, bad_arguments_return_einval_and_change_nothing)
{
    make(MB(1), MB(1));
    uint64_t pa = alloc_ok(2, 0), x;
    struct pl_frame_stats before = stats();

    cr_assert_eq(pl_frame_alloc(fa, PL_FRAME_MAX_ORDER + 1, 0, &x), PL_EINVAL, "order too large");
    cr_assert_eq(pl_frame_alloc(fa, 0, PL_FRAME_FREE, &x), PL_EINVAL, "allocator flag");
    cr_assert_eq(pl_frame_alloc(fa, 0, PL_FRAME_HEAD, &x), PL_EINVAL, "allocator flag");
    cr_assert_eq(pl_frame_alloc(fa, 0, 0x8000, &x), PL_EINVAL, "unknown flag");
    cr_assert_eq(pl_frame_alloc(fa, 0, 0, NULL), PL_EINVAL, "no result pointer");

    int (*ops[])(struct pl_frame_allocator *, uint64_t) = {pl_frame_free, pl_frame_get, pl_frame_put};
    for (size_t i = 0; i < 3; i++) {
        cr_assert_eq(ops[i](fa, pa + 8), PL_EINVAL, "op %zu: unaligned", i);
        cr_assert_eq(ops[i](fa, MB(1) - F(1)), PL_EINVAL, "op %zu: below the range", i);
        cr_assert_eq(ops[i](fa, MB(2)), PL_EINVAL, "op %zu: at the end of the range", i);
        cr_assert_eq(ops[i](fa, UINT64_MAX & ~UINT64_C(0xFFF)), PL_EINVAL, "op %zu: far away", i);
        cr_assert_eq(ops[i](fa, MB(1) + F(100)), PL_EINVAL, "op %zu: a free frame", i);
    }
    cr_assert_eq(pl_frame_free(fa, pa + F(1)), PL_EINVAL, "a tail is not a block");
    cr_assert_null(pl_frame_meta(fa, MB(2)));
    cr_assert_null(pl_frame_meta(fa, 0));
    cr_assert_eq(pl_frame_head(fa, MB(3), &x), PL_EINVAL);
    cr_assert_eq(pl_frame_head(fa, pa, NULL), PL_EINVAL);

    struct pl_frame_stats after = stats();
    cr_assert_eq(memcmp(&before, &after, sizeof before), 0, "stats unchanged");
    cr_assert_eq(pl_frame_meta(fa, pa)->refcount, 1);
    assert_consistent();

    cr_assert_eq(pl_frame_free(fa, pa), 0);
    cr_assert_eq(pl_frame_free(fa, pa), PL_EINVAL, "double free");
    cr_assert_eq(stats().frees, 1);
    assert_consistent();
}

Test(frame, checker_reports_corrupted_metadata)
{
    make(0, KB(64));
    uint64_t pa = alloc_ok(0, 0);
    char msg[200];
    struct pl_frame *m = pl_frame_meta(fa, F(8)); /* the free order-3 block */

    m->refcount = 1;
    cr_assert_eq(pl_frame_check(fa, msg, sizeof msg), PL_EINVAL);
    cr_assert_str_eq(msg, "free block 0x8000: flags 0x3, refcount 1, mapcount 0");
    m->refcount = 0;
    assert_consistent();

    m->flags = PL_FRAME_HEAD | PL_FRAME_USER; /* allocated, without the allocator knowing */
    m->refcount = 1;
    cr_assert_eq(pl_frame_check(fa, msg, sizeof msg), PL_EINVAL);
    cr_assert_str_eq(msg, "order 3: free set holds 1 blocks, metadata 0");
    m->flags = PL_FRAME_FREE | PL_FRAME_HEAD;
    m->refcount = 0;

    pl_frame_meta(fa, pa)->refcount = 0;
    cr_assert_eq(pl_frame_check(fa, msg, sizeof msg), PL_EINVAL);
    cr_assert_str_eq(msg, "allocated block 0: refcount 0");
    pl_frame_meta(fa, pa)->refcount = 1;

    struct pl_frame *tail = m + 3; /* entries are dense: frame 11 */
    tail->mapcount = 2;
    cr_assert_eq(pl_frame_check(fa, msg, sizeof msg), PL_EINVAL);
    cr_assert_str_eq(msg, "frame 0xb000 inside block 0x8000: metadata not zero");
    cr_assert_eq(pl_frame_check(fa, NULL, 0), PL_EINVAL, "no message buffer");
    tail->mapcount = 0;
    assert_consistent();
}

/* ---- property test: random operations against a reference model ---- */

struct live {
    uint64_t pa;
    unsigned order;
    uint32_t refs;
};

static uint64_t rng;

static uint64_t next_rand(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return rng;
}

static uint64_t block_bytes(unsigned order)
{
    return PL_FRAME_SIZE << order;
}

/* Lowest free block of the smallest order >= want, found by walking the
 * metadata: what the allocator must return. UINT64_MAX when none. */
static uint64_t expected_alloc(uint64_t base, uint64_t size, unsigned want)
{
    uint64_t best = UINT64_MAX;
    unsigned best_order = PL_FRAME_ORDERS;
    for (uint64_t p = base; p < base + size;) {
        const struct pl_frame *m = pl_frame_meta(fa, p);
        cr_assert_not_null(m);
        if (m->flags & PL_FRAME_FREE && m->order >= want && m->order < best_order) {
            best = p;
            best_order = m->order;
        }
        p += block_bytes(m->order);
    }
    return best;
}

static void property_run(uint64_t seed, uint64_t base, uint64_t size, int steps)
{
    enum { MAX_LIVE = 4096 };
    static struct live live[MAX_LIVE];
    static uint8_t buf[MB(2)];
    static const uint8_t zero[MB(2)];
    size_t nlive = 0;
    rng = seed;
    make(base, size);
    uint64_t total = size >> PL_FRAME_SHIFT;

    for (int step = 0; step < steps; step++) {
        uint64_t r = next_rand();
        unsigned what = (unsigned)(r % 100);
        if (what < 35 || nlive == 0) {
            /* mostly small blocks, sometimes up to 2M */
            unsigned order = (r >> 8) % 8 == 0 ? (unsigned)((r >> 12) % 10) : (unsigned)((r >> 12) % 3);
            bool inject = (r >> 20) % 50 == 0;
            if (inject)
                pl_frame_fail_after(fa, 1);
            uint64_t want = expected_alloc(base, size, order), pa = 0;
            int err = pl_frame_alloc(fa, order, PL_FRAME_USER, &pa);
            if (inject || want == UINT64_MAX) {
                cr_assert_eq(err, PL_ENOMEM, "step %d", step);
            } else {
                cr_assert_eq(err, 0, "step %d", step);
                cr_assert_eq(pa, want, "step %d: order %u at %#llx, expected %#llx", step, order,
                             (unsigned long long)pa, (unsigned long long)want);
                cr_assert_eq(pa & (block_bytes(order) - 1), 0);
                cr_assert(pa >= base && pa + block_bytes(order) <= base + size);
                for (size_t i = 0; i < nlive; i++)
                    cr_assert(pa + block_bytes(order) <= live[i].pa || live[i].pa + block_bytes(live[i].order) <= pa,
                              "step %d: %#llx overlaps a live block", step, (unsigned long long)pa);
                cr_assert_eq(pl_physmem_read(mem, pa, buf, (size_t)block_bytes(order)), 0);
                cr_assert_eq(memcmp(buf, zero, (size_t)block_bytes(order)), 0, "step %d: a new block is not zero", step);
                /* leave traces for the next owner: first, middle and last words */
                uint64_t tag = seed ^ (uint64_t)step;
                cr_assert_eq(pl_physmem_write64(mem, pa, tag), 0);
                cr_assert_eq(pl_physmem_write64(mem, pa + block_bytes(order) / 2, tag), 0);
                cr_assert_eq(pl_physmem_write64(mem, pa + block_bytes(order) - 8, tag), 0);
                cr_assert_lt(nlive, MAX_LIVE);
                live[nlive++] = (struct live){pa, order, 1};
            }
        } else {
            size_t i = (size_t)((r >> 8) % nlive);
            struct live *b = &live[i];
            uint64_t frame = b->pa + ((r >> 24) % (UINT64_C(1) << b->order)) * PL_FRAME_SIZE;
            bool freed = false;
            if (what < 60) {
                int err = pl_frame_free(fa, b->pa);
                cr_assert_eq(err, b->refs == 1 ? 0 : PL_EINVAL, "step %d: free with %u refs", step, b->refs);
                freed = err == 0;
            } else if (what < 72) {
                cr_assert_eq(pl_frame_get(fa, frame), 0, "step %d", step);
                b->refs++;
            } else if (what < 95) {
                cr_assert_eq(pl_frame_put(fa, frame), 0, "step %d", step);
                freed = --b->refs == 0;
            } else {
                /* a stale or misaligned address: rejected, nothing changes */
                cr_assert_eq(pl_frame_free(fa, frame + 1), PL_EINVAL);
                if (b->order > 0)
                    cr_assert_eq(pl_frame_free(fa, b->pa + PL_FRAME_SIZE), PL_EINVAL);
            }
            if (freed) {
                cr_assert_eq(pl_frame_put(fa, b->pa), PL_EINVAL, "step %d: put after free", step);
                live[i] = live[--nlive];
            }
        }

        char msg[256];
        cr_assert_eq(pl_frame_check(fa, msg, sizeof msg), 0, "step %d: %s", step, msg);
        struct pl_frame_stats st = stats();
        uint64_t used = 0, per_order[PL_FRAME_ORDERS] = {0};
        for (size_t j = 0; j < nlive; j++) {
            used += UINT64_C(1) << live[j].order;
            per_order[live[j].order]++;
            const struct pl_frame *m = pl_frame_meta(fa, live[j].pa);
            cr_assert_eq(m->refcount, live[j].refs, "step %d", step);
            cr_assert_eq(m->order, live[j].order, "step %d", step);
        }
        cr_assert_eq(st.free_frames + used, total, "step %d: free + allocated = size", step);
        for (unsigned k = 0; k < PL_FRAME_ORDERS; k++)
            cr_assert_eq(st.allocated[k], per_order[k], "step %d order %u", step, k);
    }

    /* drop every reference: the range is whole again */
    for (size_t i = 0; i < nlive; i++)
        for (uint32_t n = live[i].refs; n > 0; n--)
            cr_assert_eq(pl_frame_put(fa, live[i].pa), 0);
    struct pl_frame_stats st = stats();
    cr_assert_eq(st.free_frames, total);
    assert_consistent();
    pl_frame_allocator_free(fa);
    fa = NULL;
}

Test(frame, random_operations_match_a_reference_model)
{
    /* an unaligned base and a size that is no power of two */
    property_run(1, F(5), MB(3) + F(77), 6000);
    property_run(2, MB(2), MB(4), 6000);
    property_run(3, F(1), F(200), 6000); /* small: exhaustion is frequent */
}

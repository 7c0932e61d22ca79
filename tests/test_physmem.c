/* hw/physmem: sparse frames, zero-fill, word/byte/block access, host cost. */
#include <criterion/criterion.h>
#include <string.h>

#include "ptelab/error.h"
#include "ptelab/physmem.h"

static struct pl_physmem *mem;

static void setup(void) { mem = pl_physmem_new(); cr_assert_not_null(mem); }
static void teardown(void) { pl_physmem_free(mem); }

TestSuite(physmem, .init = setup, .fini = teardown);

Test(physmem, unwritten_memory_reads_zero_and_creates_no_frame)
{
    cr_assert_eq(pl_physmem_read64(mem, 0x1000), 0);
    cr_assert_eq(pl_physmem_read8(mem, (UINT64_C(1) << 52) - 1), 0);
    uint8_t buf[64];
    memset(buf, 0xAA, sizeof buf);
    cr_assert_eq(pl_physmem_read(mem, 0xFFFE0, buf, sizeof buf), 0);
    for (size_t i = 0; i < sizeof buf; i++)
        cr_assert_eq(buf[i], 0);
    cr_assert_eq(pl_physmem_frames(mem), 0);
}

Test(physmem, first_write_creates_one_zero_filled_frame)
{
    cr_assert_eq(pl_physmem_write64(mem, 0x5008, 0x1122334455667788), 0);
    cr_assert_eq(pl_physmem_frames(mem), 1);
    cr_assert_eq(pl_physmem_read64(mem, 0x5008), 0x1122334455667788);
    cr_assert_eq(pl_physmem_read64(mem, 0x5000), 0);
    cr_assert_eq(pl_physmem_read64(mem, 0x5FF8), 0);
    cr_assert_eq(pl_physmem_read8(mem, 0x5008), 0x88, "words are little-endian");
    cr_assert_eq(pl_physmem_read8(mem, 0x500F), 0x11);
}

Test(physmem, highest_frame_below_two_to_the_52_is_usable)
{
    uint64_t top = (UINT64_C(1) << 52) - 8;
    cr_assert_eq(pl_physmem_write64(mem, top, 42), 0);
    cr_assert_eq(pl_physmem_read64(mem, top), 42);
    cr_assert_eq(pl_physmem_read64(mem, top & ~UINT64_C(0xFFF)), 0);
}

Test(physmem, block_write_crosses_frames_and_reads_back)
{
    uint8_t data[10000], back[10000];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 7 + 3);
    cr_assert_eq(pl_physmem_write(mem, 0x12345, data, sizeof data), 0);
    cr_assert_eq(pl_physmem_frames(mem), 3, "0x12345..0x14A54 spans frames 0x12, 0x13, 0x14");
    cr_assert_eq(pl_physmem_read(mem, 0x12345, back, sizeof back), 0);
    cr_assert_arr_eq(back, data, sizeof data);
    cr_assert_eq(pl_physmem_read8(mem, 0x12344), 0);
    cr_assert_eq(pl_physmem_read8(mem, 0x12345 + sizeof data), 0);
}

Test(physmem, blocks_past_the_physical_limit_are_refused)
{
    uint8_t b[16] = {0};
    cr_assert_eq(pl_physmem_write(mem, (UINT64_C(1) << 52) - 8, b, 16), PL_ERANGE);
    cr_assert_eq(pl_physmem_read(mem, UINT64_MAX - 4, b, 16), PL_ERANGE);
    cr_assert_eq(pl_physmem_frames(mem), 0);
}

Test(physmem, frame_pointers_stay_valid_as_the_index_grows)
{
    uint8_t *first = pl_physmem_frame_touch(mem, 7);
    cr_assert_not_null(first);
    first[100] = 9;
    for (uint64_t pfn = 1000; pfn < 6000; pfn++)
        cr_assert_not_null(pl_physmem_frame_touch(mem, pfn * 977));
    cr_assert_eq(pl_physmem_frame_lookup(mem, 7), first);
    cr_assert_eq(first[100], 9);
    cr_assert_eq(pl_physmem_frames(mem), 5001);
}

Test(physmem, host_memory_is_at_most_4k_plus_64_bytes_per_frame)
{
    for (uint64_t n = 1; n <= 20000; n++) {
        /* scattered over the whole 2^40-frame space */
        uint64_t pfn = (n * UINT64_C(0x9E3779B1)) & ((UINT64_C(1) << 40) - 1);
        cr_assert_not_null(pl_physmem_frame_touch(mem, pfn));
        size_t frames = pl_physmem_frames(mem);
        cr_assert_leq(pl_physmem_host_bytes(mem), frames * (4096 + 64), "after %zu frames", frames);
    }
}

Test(physmem, many_random_writes_match_a_reference_array)
{
    /* a small window so that words collide and overwrite */
    enum { WORDS = 4096 };
    static uint64_t model[WORDS];
    uint64_t x = 12345;
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t w = x % WORDS;
        uint64_t pa = (uint64_t)w * 8 * 97; /* 8-aligned, spread over ~800 frames */
        if (x & (1u << 20)) {
            model[w] = x;
            cr_assert_eq(pl_physmem_write64(mem, pa, x), 0);
        } else {
            cr_assert_eq(pl_physmem_read64(mem, pa), model[w]);
        }
    }
}

Test(physmem, zero_clears_existing_frames_only_within_the_range)
{
    cr_assert_eq(pl_physmem_write64(mem, 0x1FF8, 0xAAAAAAAA11111111), 0);
    cr_assert_eq(pl_physmem_write64(mem, 0x2000, 0x2222), 0);
    cr_assert_eq(pl_physmem_write64(mem, 0x2FF8, 0x33333333BBBBBBBB), 0);
    cr_assert_eq(pl_physmem_write64(mem, 0x5000, 0x4444), 0);
    uint64_t cleared = 99;
    /* [0x1FFC, 0x2FFC): the last 4 bytes of frame 1 and all but 4 of frame 2 */
    cr_assert_eq(pl_physmem_zero(mem, 0x1FFC, 0x1000, &cleared), 0);
    cr_assert_eq(cleared, 0x1000);
    cr_assert_eq(pl_physmem_read64(mem, 0x1FF8), 0x11111111, "bytes below the range stay");
    cr_assert_eq(pl_physmem_read64(mem, 0x2000), 0);
    cr_assert_eq(pl_physmem_read64(mem, 0x2FF8), 0x3333333300000000, "bytes from 0x2FFC stay");
    cr_assert_eq(pl_physmem_read64(mem, 0x5000), 0x4444);
    cr_assert_eq(pl_physmem_frames(mem), 3, "zeroing creates no frame");

    cr_assert_eq(pl_physmem_zero(mem, 0x3000, 0x2000, &cleared), 0);
    cr_assert_eq(cleared, 0, "frames 3 and 4 do not exist");
    cr_assert_eq(pl_physmem_zero(mem, 0x5000, 0, NULL), 0);
    cr_assert_eq(pl_physmem_read64(mem, 0x5000), 0x4444, "an empty range clears nothing");
    cr_assert_eq(pl_physmem_zero(mem, (UINT64_C(1) << 52) - 0x1000, 0x1001, &cleared), PL_ERANGE);
    cr_assert_eq(pl_physmem_zero(mem, UINT64_MAX - 4, 8, NULL), PL_ERANGE);
    cr_assert_eq(pl_physmem_read64(mem, 0x5000), 0x4444);
}

Test(physmem, zero_over_a_range_larger_than_the_index_clears_the_same_bytes)
{
    /* 1 GiB holds far more frames than the index has slots: the index is
     * walked instead of the range. */
    for (uint64_t pfn = 0; pfn < 40; pfn++)
        cr_assert_eq(pl_physmem_write64(mem, (pfn * 6007) << 12 | 0x10, pfn + 1), 0);
    cr_assert_eq(pl_physmem_write64(mem, UINT64_C(1) << 30, 0xBEEF), 0); /* just past the range */
    uint64_t cleared = 0;
    cr_assert_eq(pl_physmem_zero(mem, 0x10, (UINT64_C(1) << 30) - 0x10, &cleared), 0);
    cr_assert_eq(cleared, 40 * 4096 - 0x10, "frame 0 only from byte 0x10");
    for (uint64_t pfn = 0; pfn < 40; pfn++)
        cr_assert_eq(pl_physmem_read64(mem, (pfn * 6007) << 12 | 0x10), 0, "frame %llu", (unsigned long long)pfn);
    cr_assert_eq(pl_physmem_read64(mem, UINT64_C(1) << 30), 0xBEEF);
    cr_assert_eq(pl_physmem_frames(mem), 41);
}

/* Page-replacement policies as pure functions of a reference string.
 *
 * A reference string is the sequence of pages a program touches. The
 * simulators here take it as dense page ids (0 .. npages-1; struct
 * pl_refstring turns arbitrary 64-bit page numbers into such ids on the fly)
 * and a number of frames, and return how many references faulted, and if
 * asked, which pages were evicted, in order. They know nothing of machines or
 * kernels: the kernel's reclaim (src/os) owns the frames and harvests accessed
 * bits; these modules are the definitions it is measured against and the
 * engine of `ptelab trace curve` (docs/trace-curve.md).
 *
 * The exact rules of each policy are stated beside enum pl_policy. Every
 * simulator is O(1) amortized per reference, except OPT (O(log frames)) and
 * the LRU curve (O(log n) per reference for every memory size at once). */
#ifndef PTELAB_POLICY_H
#define PTELAB_POLICY_H

#include <stddef.h>
#include <stdint.h>

/* The policies. A fault always brings the referenced page in; while free
 * frames remain, nothing is evicted and frames fill in order 0, 1, 2...
 *
 * FIFO   evicts the page that was brought in longest ago.
 * LRU    evicts the page whose last reference is oldest (exact).
 * CLOCK  second chance: the frames form a ring with a hand (at frame 0 when
 *        memory first fills) and a reference bit per frame, set by every
 *        reference to the page, including the one that faulted it in (as the
 *        MMU sets the accessed bit). To evict, the hand clears set bits and
 *        advances until it finds a clear one; that frame's page is evicted,
 *        the new page takes the frame, and the hand moves one past it.
 * ACTIVE Linux-like active/inactive lists (mm/vmscan.c, mm/swap.c):
 *        1. a faulted-in page goes to the head of the inactive list
 *           (lru_cache_add: new pages start inactive);
 *        2. a reference to an inactive page is its second reference (the
 *           fault was the first): it moves to the head of the active list
 *           with its referenced bit clear (mark_page_accessed ->
 *           activate_page);
 *        3. a reference to an active page sets its referenced bit (the
 *           accessed bit that page_referenced() harvests);
 *        4. to evict, first balance: while the active list is longer than
 *           the inactive one (inactive_is_low() with inactive_ratio 1), take
 *           the active tail: if its referenced bit is set, clear it and
 *           rotate it to the active head, else move it to the inactive head
 *           (shrink_active_list; the rotation is 2.6's refill_inactive_zone,
 *           kept today for executable pages); then evict the inactive tail
 *           (shrink_inactive_list).
 * OPT    Belady's optimal policy, offline: evicts the page whose next
 *        reference is farthest in the future; among pages never referenced
 *        again, the least recently used one. */
enum pl_policy {
    PL_POLICY_FIFO,
    PL_POLICY_LRU,
    PL_POLICY_CLOCK,
    PL_POLICY_ACTIVE,
    PL_POLICY_OPT,
    PL_POLICY_COUNT
};

/* Returns the policy's short lower-case name ("fifo", "lru", "clock",
 * "active", "opt"), or NULL for a value out of range. */
const char *pl_policy_name(enum pl_policy p);

/* Finds the policy named name (a short name as above). Returns 0 with *out
 * set, or PL_EINVAL for an unknown name. */
int pl_policy_parse(const char *name, enum pl_policy *out);

/* What a simulation produced. */
struct pl_policy_result {
    uint64_t faults;    /* references that found their page absent */
    uint64_t evictions; /* faults that had to evict (faults - frames, at most) */
};

/* Simulates policy p over ids[0..n) with frames frames. Every id must be
 * below npages. When evicted is not NULL, it receives the id of every
 * evicted page in eviction order (room for n ids is always enough; there are
 * result->evictions of them). Returns 0, PL_EINVAL (frames == 0, an unknown
 * policy, or an id >= npages) or PL_ENOMEM. */
int pl_policy_simulate(enum pl_policy p, const uint32_t *ids, size_t n, uint32_t npages,
                       uint32_t frames, struct pl_policy_result *result, uint32_t *evicted);

/* The whole LRU curve in one pass (Mattson et al.'s stack distances, counted
 * with a Fenwick tree over reference times, Bennett & Kruskal): fills
 * faults[k] with the LRU fault count for k frames, for k = 0 .. npages
 * (faults[0] = n; faults[npages] = the number of distinct pages referenced).
 * faults must have room for npages + 1 values. Every id must be below
 * npages. Returns 0, PL_EINVAL or PL_ENOMEM. */
int pl_lru_curve(const uint32_t *ids, size_t n, uint32_t npages, uint64_t *faults);

/* A reference string under construction: 64-bit page numbers appended one
 * at a time, kept as dense ids in order of first appearance (the first page
 * seen is id 0). Memory: 4 bytes per reference plus about 24 per distinct
 * page. */
struct pl_refstring;

/* Returns a new empty reference string, or NULL when out of memory. */
struct pl_refstring *pl_refstring_new(void);
void pl_refstring_free(struct pl_refstring *rs);

/* Appends a reference to page. Returns 0, or PL_ENOMEM (rs unchanged), or
 * PL_ERANGE past 2^32 - 1 distinct pages or SIZE_MAX/8 references. */
int pl_refstring_append(struct pl_refstring *rs, uint64_t page);

/* The references as dense ids, valid until the next append. */
const uint32_t *pl_refstring_ids(const struct pl_refstring *rs);
size_t pl_refstring_len(const struct pl_refstring *rs);
/* The number of distinct pages (every id is below it). */
uint32_t pl_refstring_distinct(const struct pl_refstring *rs);
/* The page number of a dense id (id < distinct). */
uint64_t pl_refstring_page(const struct pl_refstring *rs, uint32_t id);

/* Where a text is not a reference string: 1-based line and a message. */
struct pl_refstring_error {
    uint32_t line;
    char msg[128];
};

/* Appends the page numbers of a plain reference-string text to rs, in the
 * syntax of pl_refs_next (include/ptelab/trace.h): decimal or 0x numbers
 * separated by white space, '#' comments. Returns 0; PL_EPARSE with *err
 * filled (a bad token, a NUL byte, a number beyond 64 bits), the numbers
 * before the bad token appended; or PL_ENOMEM or PL_ERANGE from
 * pl_refstring_append (err says so too). */
int pl_refstring_parse(struct pl_refstring *rs, const char *text, size_t len,
                       struct pl_refstring_error *err);

#endif

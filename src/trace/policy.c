/* Page-replacement simulators over reference strings (include/ptelab/policy.h
 * states each policy's rules). Per-page state lives in arrays indexed by
 * dense page id, so a reference costs a few array accesses and no hashing. */
#include <assert.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ptelab/error.h"
#include "ptelab/policy.h"
#include "ptelab/trace.h"

#define NONE UINT32_MAX

static const char *const policy_names[PL_POLICY_COUNT] = {
    [PL_POLICY_FIFO] = "fifo",   [PL_POLICY_LRU] = "lru", [PL_POLICY_CLOCK] = "clock",
    [PL_POLICY_ACTIVE] = "active", [PL_POLICY_OPT] = "opt",
};

const char *pl_policy_name(enum pl_policy p)
{
    return (unsigned)p < PL_POLICY_COUNT ? policy_names[p] : NULL;
}

int pl_policy_parse(const char *name, enum pl_policy *out)
{
    for (int p = 0; p < PL_POLICY_COUNT; p++) {
        if (strcmp(name, policy_names[p]) == 0) {
            *out = (enum pl_policy)p;
            return 0;
        }
    }
    return PL_EINVAL;
}

/* The bookkeeping every simulator shares: counts a fault, and an eviction
 * of victim when there was one. */
struct sim {
    struct pl_policy_result r;
    uint32_t *evicted;
};

/* Records the eviction of victim (in s->evicted too, when asked). */
static void sim_evict(struct sim *s, uint32_t victim)
{
    if (s->evicted)
        s->evicted[s->r.evictions] = victim;
    s->r.evictions++;
}

/* FIFO: the resident pages in a ring in arrival order; the oldest is at
 * head once the ring is full. */
static int sim_fifo(struct sim *s, const uint32_t *ids, size_t n, uint32_t npages, uint32_t k)
{
    bool *resident = calloc(npages, sizeof *resident);
    uint32_t *ring = malloc((size_t)k * sizeof *ring);
    if (!resident || !ring) {
        free(resident);
        free(ring);
        return PL_ENOMEM;
    }
    uint32_t used = 0, head = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t id = ids[i];
        if (resident[id])
            continue;
        s->r.faults++;
        if (used < k) {
            ring[used++] = id;
        } else {
            resident[ring[head]] = false;
            sim_evict(s, ring[head]);
            ring[head] = id;
            head = head + 1 == k ? 0 : head + 1;
        }
        resident[id] = true;
    }
    free(resident);
    free(ring);
    return 0;
}

/* A doubly linked list threaded through per-page prev/next arrays; several
 * lists may share the arrays (a page is on at most one). Head is the most
 * recent end. */
struct list {
    uint32_t head, tail, count;
};

/* Puts id, on no list, at the head of l. */
static void list_push_head(struct list *l, uint32_t *prev, uint32_t *next, uint32_t id)
{
    prev[id] = NONE;
    next[id] = l->head;
    if (l->head != NONE)
        prev[l->head] = id;
    else
        l->tail = id;
    l->head = id;
    l->count++;
}

/* Takes id, which is on l, off it. */
static void list_unlink(struct list *l, uint32_t *prev, uint32_t *next, uint32_t id)
{
    if (prev[id] != NONE)
        next[prev[id]] = next[id];
    else
        l->head = next[id];
    if (next[id] != NONE)
        prev[next[id]] = prev[id];
    else
        l->tail = prev[id];
    l->count--;
}

/* Allocates the prev/next arrays (and a zeroed byte per page in *flags when
 * flags is not NULL). Returns 0 or PL_ENOMEM with nothing allocated. */
static int links_new(uint32_t npages, uint32_t **prev, uint32_t **next, uint8_t **flags)
{
    *prev = malloc((size_t)npages * sizeof **prev);
    *next = malloc((size_t)npages * sizeof **next);
    uint8_t *f = flags ? calloc(npages, 1) : NULL;
    if (!*prev || !*next || (flags && !f)) {
        free(*prev);
        free(*next);
        free(f);
        return PL_ENOMEM;
    }
    if (flags)
        *flags = f;
    return 0;
}

/* Exact LRU: one recency list; a hit moves its page to the head, the
 * victim is the tail. */
static int sim_lru(struct sim *s, const uint32_t *ids, size_t n, uint32_t npages, uint32_t k)
{
    uint32_t *prev, *next;
    uint8_t *resident;
    if (links_new(npages, &prev, &next, &resident))
        return PL_ENOMEM;
    struct list lru = {NONE, NONE, 0};
    for (size_t i = 0; i < n; i++) {
        uint32_t id = ids[i];
        if (resident[id]) {
            list_unlink(&lru, prev, next, id);
            list_push_head(&lru, prev, next, id);
            continue;
        }
        s->r.faults++;
        if (lru.count == k) {
            uint32_t victim = lru.tail;
            list_unlink(&lru, prev, next, victim);
            resident[victim] = 0;
            sim_evict(s, victim);
        }
        list_push_head(&lru, prev, next, id);
        resident[id] = 1;
    }
    free(prev);
    free(next);
    free(resident);
    return 0;
}

/* CLOCK: frame slots in a ring, a reference bit per slot, one hand. */
static int sim_clock(struct sim *s, const uint32_t *ids, size_t n, uint32_t npages, uint32_t k)
{
    uint32_t *slot_of = malloc((size_t)npages * sizeof *slot_of);
    uint32_t *page_in = malloc((size_t)k * sizeof *page_in);
    uint8_t *ref = calloc(k, 1);
    if (!slot_of || !page_in || !ref) {
        free(slot_of);
        free(page_in);
        free(ref);
        return PL_ENOMEM;
    }
    memset(slot_of, 0xff, (size_t)npages * sizeof *slot_of);
    uint32_t used = 0, hand = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t id = ids[i];
        if (slot_of[id] != NONE) {
            ref[slot_of[id]] = 1;
            continue;
        }
        s->r.faults++;
        uint32_t slot;
        if (used < k) {
            slot = used++;
        } else {
            /* Ends within two turns: the first clears every bit it passes. */
            while (ref[hand]) {
                ref[hand] = 0;
                hand = hand + 1 == k ? 0 : hand + 1;
            }
            slot = hand;
            slot_of[page_in[slot]] = NONE;
            sim_evict(s, page_in[slot]);
            hand = hand + 1 == k ? 0 : hand + 1;
        }
        page_in[slot] = id;
        slot_of[id] = slot;
        ref[slot] = 1;
    }
    free(slot_of);
    free(page_in);
    free(ref);
    return 0;
}

/* Per-page state of the active/inactive simulator. */
enum {
    ON_NONE = 0,
    ON_INACTIVE = 1,
    ON_ACTIVE = 2,
    REFERENCED = 4, /* with ON_ACTIVE: referenced since it was last scanned */
};

/* Active/inactive lists, rules 1-4 of enum pl_policy's ACTIVE. */
static int sim_active(struct sim *s, const uint32_t *ids, size_t n, uint32_t npages, uint32_t k)
{
    uint32_t *prev, *next;
    uint8_t *state;
    if (links_new(npages, &prev, &next, &state))
        return PL_ENOMEM;
    struct list active = {NONE, NONE, 0}, inactive = {NONE, NONE, 0};
    for (size_t i = 0; i < n; i++) {
        uint32_t id = ids[i];
        if (state[id] & ON_ACTIVE) {
            state[id] |= REFERENCED;
            continue;
        }
        if (state[id] & ON_INACTIVE) {
            list_unlink(&inactive, prev, next, id);
            list_push_head(&active, prev, next, id);
            state[id] = ON_ACTIVE;
            continue;
        }
        s->r.faults++;
        if (active.count + inactive.count == k) {
            /* Ends: each turn clears a bit or shortens the active list. */
            while (active.count > inactive.count) {
                uint32_t t = active.tail;
                list_unlink(&active, prev, next, t);
                if (state[t] & REFERENCED) {
                    state[t] = ON_ACTIVE;
                    list_push_head(&active, prev, next, t);
                } else {
                    state[t] = ON_INACTIVE;
                    list_push_head(&inactive, prev, next, t);
                }
            }
            uint32_t victim = inactive.tail;
            assert(victim != NONE);
            list_unlink(&inactive, prev, next, victim);
            state[victim] = ON_NONE;
            sim_evict(s, victim);
        }
        list_push_head(&inactive, prev, next, id);
        state[id] = ON_INACTIVE;
    }
    free(prev);
    free(next);
    free(state);
    return 0;
}

/* OPT's resident pages in a max-heap on key: the index of the page's next
 * reference, or for a page never referenced again 2n - (index of its last
 * reference), so those come first, least recently used first. Keys are
 * unique, so the victim is well defined. */
struct opt_heap {
    uint32_t *heap; /* ids; heap[0] has the largest key */
    uint32_t *pos;  /* per id: its index in heap, or NONE */
    uint64_t *key;  /* per id */
    uint32_t size;
};

/* Stores id at heap index at and records where. */
static void heap_place(struct opt_heap *h, uint32_t at, uint32_t id)
{
    h->heap[at] = id;
    h->pos[id] = at;
}

/* Restores the heap order above index at after its key grew. */
static void heap_sift_up(struct opt_heap *h, uint32_t at)
{
    uint32_t id = h->heap[at];
    while (at > 0) {
        uint32_t parent = (at - 1) / 2;
        if (h->key[h->heap[parent]] >= h->key[id])
            break;
        heap_place(h, at, h->heap[parent]);
        at = parent;
    }
    heap_place(h, at, id);
}

/* Restores the heap order below index at after its key shrank. */
static void heap_sift_down(struct opt_heap *h, uint32_t at)
{
    uint32_t id = h->heap[at];
    for (;;) {
        uint32_t child = 2 * at + 1;
        if (child >= h->size)
            break;
        if (child + 1 < h->size && h->key[h->heap[child + 1]] > h->key[h->heap[child]])
            child++;
        if (h->key[h->heap[child]] <= h->key[id])
            break;
        heap_place(h, at, h->heap[child]);
        at = child;
    }
    heap_place(h, at, id);
}

/* Returns the page with the largest key, removed from the heap. */
static uint32_t heap_pop(struct opt_heap *h)
{
    uint32_t top = h->heap[0];
    h->pos[top] = NONE;
    if (--h->size > 0) {
        h->heap[0] = h->heap[h->size];
        heap_sift_down(h, 0);
    }
    return top;
}

/* OPT (Belady), with next-use indexes computed in one backward pass. */
static int sim_opt(struct sim *s, const uint32_t *ids, size_t n, uint32_t npages, uint32_t k)
{
    size_t *next_use = malloc(n * sizeof *next_use);
    size_t *seen = malloc((size_t)npages * sizeof *seen);
    struct opt_heap h = {
        .heap = malloc((size_t)k * sizeof *h.heap),
        .pos = malloc((size_t)npages * sizeof *h.pos),
        .key = malloc((size_t)npages * sizeof *h.key),
    };
    int rc = 0;
    if ((n && !next_use) || !seen || !h.heap || !h.pos || !h.key) {
        rc = PL_ENOMEM;
        goto out;
    }
    for (uint32_t p = 0; p < npages; p++)
        seen[p] = n;
    for (size_t i = n; i-- > 0;) {
        next_use[i] = seen[ids[i]];
        seen[ids[i]] = i;
    }
    memset(h.pos, 0xff, (size_t)npages * sizeof *h.pos);
    for (size_t i = 0; i < n; i++) {
        uint32_t id = ids[i];
        h.key[id] = next_use[i] < n ? (uint64_t)next_use[i] : 2 * (uint64_t)n - i;
        if (h.pos[id] != NONE) {
            /* The old key was i, the new one is larger. */
            heap_sift_up(&h, h.pos[id]);
            continue;
        }
        s->r.faults++;
        if (h.size == k)
            sim_evict(s, heap_pop(&h));
        heap_place(&h, h.size++, id);
        heap_sift_up(&h, h.size - 1);
    }
out:
    free(next_use);
    free(seen);
    free(h.heap);
    free(h.pos);
    free(h.key);
    return rc;
}

/* Returns whether every id is below npages. */
static bool ids_valid(const uint32_t *ids, size_t n, uint32_t npages)
{
    for (size_t i = 0; i < n; i++)
        if (ids[i] >= npages)
            return false;
    return true;
}

int pl_policy_simulate(enum pl_policy p, const uint32_t *ids, size_t n, uint32_t npages,
                       uint32_t frames, struct pl_policy_result *result, uint32_t *evicted)
{
    if (frames == 0 || (unsigned)p >= PL_POLICY_COUNT || (n && !ids) || !ids_valid(ids, n, npages))
        return PL_EINVAL;
    struct sim s = {.evicted = evicted};
    /* Frames beyond the number of pages would stay empty. */
    uint32_t k = frames < npages ? frames : npages;
    int rc = 0;
    if (n > 0) {
        switch (p) {
        case PL_POLICY_FIFO: rc = sim_fifo(&s, ids, n, npages, k); break;
        case PL_POLICY_LRU: rc = sim_lru(&s, ids, n, npages, k); break;
        case PL_POLICY_CLOCK: rc = sim_clock(&s, ids, n, npages, k); break;
        case PL_POLICY_ACTIVE: rc = sim_active(&s, ids, n, npages, k); break;
        case PL_POLICY_OPT: rc = sim_opt(&s, ids, n, npages, k); break;
        case PL_POLICY_COUNT: return PL_EINVAL;
        }
    }
    if (rc)
        return rc;
    *result = s.r;
    return 0;
}

/* A Fenwick (binary indexed) tree of counts over reference times 0..n-1. */
static void fenwick_add(uint32_t *tree, size_t n, size_t t, int32_t delta)
{
    for (size_t i = t + 1; i <= n; i += i & (~i + 1))
        tree[i - 1] += (uint32_t)delta;
}

/* Returns the sum of the counts at times 0..t-1. */
static uint32_t fenwick_prefix(const uint32_t *tree, size_t t)
{
    uint32_t sum = 0;
    for (size_t i = t; i > 0; i -= i & (~i + 1))
        sum += tree[i - 1];
    return sum;
}

int pl_lru_curve(const uint32_t *ids, size_t n, uint32_t npages, uint64_t *faults)
{
    if ((n && !ids) || !faults || !ids_valid(ids, n, npages))
        return PL_EINVAL;
    /* tree holds a 1 at the time of each page's latest reference: the
     * stack distance of a reference is 1 + the number of 1s between the
     * page's previous reference and now. */
    uint32_t *tree = calloc(n ? n : 1, sizeof *tree);
    size_t *last = malloc(((size_t)npages + 1) * sizeof *last);
    uint64_t *hist = calloc((size_t)npages + 1, sizeof *hist);
    if (!tree || !last || !hist) {
        free(tree);
        free(last);
        free(hist);
        return PL_ENOMEM;
    }
    for (uint32_t p = 0; p < npages; p++)
        last[p] = SIZE_MAX;
    uint64_t cold = 0;
    for (size_t t = 0; t < n; t++) {
        uint32_t id = ids[t];
        if (last[id] == SIZE_MAX) {
            cold++;
        } else {
            size_t l = last[id];
            uint32_t d = fenwick_prefix(tree, t) - fenwick_prefix(tree, l + 1) + 1;
            hist[d]++;
            fenwick_add(tree, n, l, -1);
        }
        fenwick_add(tree, n, t, 1);
        last[id] = t;
    }
    /* k frames hold the k most recent pages: a reference hits iff its
     * distance is at most k. */
    faults[npages] = cold;
    for (uint32_t k = npages; k > 0; k--)
        faults[k - 1] = faults[k] + hist[k];
    free(tree);
    free(last);
    free(hist);
    return 0;
}

struct pl_refstring {
    uint32_t *ids;
    size_t len, cap;
    uint64_t *pages; /* per id: its page number */
    uint32_t distinct, pages_cap;
    uint32_t *table; /* open addressing: id + 1, or 0 for an empty slot */
    size_t table_size; /* a power of two, kept at most half full */
};

struct pl_refstring *pl_refstring_new(void)
{
    return calloc(1, sizeof(struct pl_refstring));
}

void pl_refstring_free(struct pl_refstring *rs)
{
    if (!rs)
        return;
    free(rs->ids);
    free(rs->pages);
    free(rs->table);
    free(rs);
}

/* Returns page's home slot in a table of table_size (a power of two). */
static size_t page_hash(uint64_t page, size_t table_size)
{
    return (size_t)((page * 0x9e3779b97f4a7c15u) >> 32) & (table_size - 1);
}

/* Rebuilds the hash table with size slots. Returns 0 or PL_ENOMEM. */
static int refstring_rehash(struct pl_refstring *rs, size_t size)
{
    uint32_t *t = calloc(size, sizeof *t);
    if (!t)
        return PL_ENOMEM;
    for (uint32_t id = 0; id < rs->distinct; id++) {
        size_t h = page_hash(rs->pages[id], size);
        while (t[h])
            h = (h + 1) & (size - 1);
        t[h] = id + 1;
    }
    free(rs->table);
    rs->table = t;
    rs->table_size = size;
    return 0;
}

/* Returns the id of page, adding it as a new id when unseen, or a negative
 * PL_E* code. */
static int64_t refstring_id(struct pl_refstring *rs, uint64_t page)
{
    if (rs->table_size) {
        size_t h = page_hash(page, rs->table_size);
        for (; rs->table[h]; h = (h + 1) & (rs->table_size - 1))
            if (rs->pages[rs->table[h] - 1] == page)
                return rs->table[h] - 1;
    }
    if (rs->distinct == UINT32_MAX - 1)
        return PL_ERANGE;
    if ((size_t)rs->distinct + 1 > rs->table_size / 2) {
        size_t size = rs->table_size ? rs->table_size * 2 : 64;
        if (size > SIZE_MAX / sizeof(uint32_t) || refstring_rehash(rs, size))
            return PL_ENOMEM;
    }
    if (rs->distinct == rs->pages_cap) {
        uint32_t cap = rs->pages_cap ? (rs->pages_cap > UINT32_MAX / 2 ? UINT32_MAX : rs->pages_cap * 2) : 64;
        uint64_t *p = realloc(rs->pages, (size_t)cap * sizeof *p);
        if (!p)
            return PL_ENOMEM;
        rs->pages = p;
        rs->pages_cap = cap;
    }
    uint32_t id = rs->distinct++;
    rs->pages[id] = page;
    size_t h = page_hash(page, rs->table_size);
    while (rs->table[h])
        h = (h + 1) & (rs->table_size - 1);
    rs->table[h] = id + 1;
    return id;
}

int pl_refstring_append(struct pl_refstring *rs, uint64_t page)
{
    if (rs->len == rs->cap) {
        if (rs->cap >= SIZE_MAX / 8 / 2)
            return PL_ERANGE;
        size_t cap = rs->cap ? rs->cap * 2 : 1024;
        uint32_t *p = realloc(rs->ids, cap * sizeof *p);
        if (!p)
            return PL_ENOMEM;
        rs->ids = p;
        rs->cap = cap;
    }
    int64_t id = refstring_id(rs, page);
    if (id < 0)
        return (int)id;
    rs->ids[rs->len++] = (uint32_t)id;
    return 0;
}

const uint32_t *pl_refstring_ids(const struct pl_refstring *rs)
{
    return rs->ids;
}

size_t pl_refstring_len(const struct pl_refstring *rs)
{
    return rs->len;
}

uint32_t pl_refstring_distinct(const struct pl_refstring *rs)
{
    return rs->distinct;
}

uint64_t pl_refstring_page(const struct pl_refstring *rs, uint32_t id)
{
    assert(id < rs->distinct);
    return rs->pages[id];
}

int pl_refstring_parse(struct pl_refstring *rs, const char *text, size_t len,
                       struct pl_refstring_error *err)
{
    const char *end = text + len;
    err->line = 0;
    err->msg[0] = '\0';
    for (uint32_t line = 1; text < end; line += line < UINT32_MAX) {
        const char *nl = memchr(text, '\n', (size_t)(end - text));
        const char *eol = nl ? nl + 1 : end;
        uint64_t page;
        int rc;
        while ((rc = pl_refs_next(&text, eol, &page, err->msg, sizeof err->msg)) == 1) {
            rc = pl_refstring_append(rs, page);
            if (rc) {
                snprintf(err->msg, sizeof err->msg, "%s", pl_strerror(rc));
                break;
            }
        }
        if (rc) {
            err->line = line;
            return rc;
        }
    }
    return 0;
}

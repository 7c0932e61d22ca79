/* os/vma: the regions of an address space in an AVL tree keyed by start.
 *
 * Each node also summarises its subtree: the lowest start (lo), the highest
 * end (hi) and the largest hole between two of its regions (max_gap). With
 * those, a free range of a given length is found in O(log n). Every change to
 * a node's range or to the shape of the tree is followed by retrace(), which
 * recomputes and rebalances each node from there to the root.
 *
 * Operations that may need new nodes reserve them first (at most two: one
 * per edge of a range), so a host allocation failure leaves the set as it
 * was. Nodes freed by merges are kept as those spares. */
#include "ptelab/vma.h"

#include <assert.h>
#include <stdlib.h>

#include "ptelab/error.h"

#ifndef PL_INVARIANTS
#define PL_INVARIANTS 0
#endif

#define PAGE_MASK (PL_VMA_PAGE_SIZE - 1)
#define SPARES 2

struct vma_node {
    struct pl_vma vma; /* first: a region pointer is its node's pointer */
    struct vma_node *left, *right, *parent;
    uint64_t lo, hi;  /* lowest start and highest end in the subtree */
    uint64_t max_gap; /* largest hole between two regions of the subtree */
    int height;       /* a leaf is 1 */
};

struct pl_vma_set {
    struct vma_node *root;
    uint64_t count;
    struct vma_node *spare[SPARES];
    int spares;
    int64_t fail_after; /* allocations left before failing; < 0: never fail */
};

static bool aligned(uint64_t x) { return (x & PAGE_MASK) == 0; }
static uint64_t pages(uint64_t start, uint64_t end) { return (end - start) >> PL_VMA_PAGE_SHIFT; }
static uint64_t max_u64(uint64_t a, uint64_t b) { return a > b ? a : b; }
static int height(const struct vma_node *n) { return n ? n->height : 0; }
static struct vma_node *node_of(const struct pl_vma *v) { return (struct vma_node *)v; }

/* ---- Nodes ---------------------------------------------------------------- */

/* Returns a fresh node, or NULL when the host (or the fault injector) says no. */
static struct vma_node *node_alloc(struct pl_vma_set *set)
{
    if (set->fail_after == 0)
        return NULL;
    if (set->fail_after > 0)
        set->fail_after--;
    return malloc(sizeof(struct vma_node));
}

/* Makes sure `need` (<= SPARES) spare nodes are at hand. Returns 0 or
 * PL_ENOMEM; nothing in the tree changes either way. */
static int reserve(struct pl_vma_set *set, int need)
{
    assert(need <= SPARES);
    while (set->spares < need) {
        struct vma_node *n = node_alloc(set);
        if (!n)
            return PL_ENOMEM;
        set->spare[set->spares++] = n;
    }
    return 0;
}

/* A reserved node holding a copy of v, not yet in the tree. */
static struct vma_node *take_spare(struct pl_vma_set *set, const struct pl_vma *v)
{
    assert(set->spares > 0);
    struct vma_node *n = set->spare[--set->spares];
    *n = (struct vma_node){.vma = *v, .height = 1};
    return n;
}

/* Keeps n as a spare, or frees it when there are enough. */
static void give_back(struct pl_vma_set *set, struct vma_node *n)
{
    if (set->spares < SPARES)
        set->spare[set->spares++] = n;
    else
        free(n);
}

/* ---- AVL tree --------------------------------------------------------------- */

/* Recomputes n's height and subtree summary from its children. */
static void update(struct vma_node *n)
{
    const struct vma_node *l = n->left, *r = n->right;
    n->height = 1 + (height(l) > height(r) ? height(l) : height(r));
    n->lo = l ? l->lo : n->vma.start;
    n->hi = r ? r->hi : n->vma.end;
    uint64_t gap = 0;
    if (l)
        gap = max_u64(l->max_gap, n->vma.start - l->hi);
    if (r)
        gap = max_u64(gap, max_u64(r->max_gap, r->lo - n->vma.end));
    n->max_gap = gap;
}

/* Makes `to` take the place of `from` under parent (or as the root). */
static void replace_child(struct pl_vma_set *set, struct vma_node *parent, struct vma_node *from,
    struct vma_node *to)
{
    if (!parent)
        set->root = to;
    else if (parent->left == from)
        parent->left = to;
    else
        parent->right = to;
    if (to)
        to->parent = parent;
}

/* Rotations: return the subtree's new root. */
static struct vma_node *rotate_left(struct pl_vma_set *set, struct vma_node *x)
{
    struct vma_node *y = x->right;
    x->right = y->left;
    if (y->left)
        y->left->parent = x;
    replace_child(set, x->parent, x, y);
    y->left = x;
    x->parent = y;
    update(x);
    update(y);
    return y;
}

static struct vma_node *rotate_right(struct pl_vma_set *set, struct vma_node *x)
{
    struct vma_node *y = x->left;
    x->left = y->right;
    if (y->right)
        y->right->parent = x;
    replace_child(set, x->parent, x, y);
    y->right = x;
    x->parent = y;
    update(x);
    update(y);
    return y;
}

/* Updates n and rebalances it if its children's heights differ by 2.
 * Returns the root of what was n's subtree. */
static struct vma_node *rebalance(struct pl_vma_set *set, struct vma_node *n)
{
    update(n);
    int balance = height(n->left) - height(n->right);
    if (balance > 1) {
        if (height(n->left->left) < height(n->left->right))
            rotate_left(set, n->left);
        return rotate_right(set, n);
    }
    if (balance < -1) {
        if (height(n->right->right) < height(n->right->left))
            rotate_right(set, n->right);
        return rotate_left(set, n);
    }
    return n;
}

/* Recomputes and rebalances every node from n up to the root. Needed after
 * any change below n or to n's own range. */
static void retrace(struct pl_vma_set *set, struct vma_node *n)
{
    while (n)
        n = rebalance(set, n)->parent;
}

/* Links n (not in the tree, disjoint from every region) by its start. */
static void link_node(struct pl_vma_set *set, struct vma_node *n)
{
    struct vma_node *parent = NULL, **slot = &set->root;
    while (*slot) {
        parent = *slot;
        slot = n->vma.start < parent->vma.start ? &parent->left : &parent->right;
    }
    *slot = n;
    n->parent = parent;
    n->left = n->right = NULL;
    set->count++;
    retrace(set, n);
}

/* Unlinks z, relinking (not copying) so every other node stays where the
 * caller's pointers expect it, and gives it back. */
static void unlink_node(struct pl_vma_set *set, struct vma_node *z)
{
    struct vma_node *fix;
    if (!z->left || !z->right) {
        fix = z->parent;
        replace_child(set, z->parent, z, z->left ? z->left : z->right);
    } else {
        struct vma_node *y = z->right;
        while (y->left)
            y = y->left;
        if (y->parent != z) {
            fix = y->parent;
            replace_child(set, y->parent, y, y->right);
            y->right = z->right;
            y->right->parent = y;
        } else {
            fix = y;
        }
        replace_child(set, z->parent, z, y);
        y->left = z->left;
        y->left->parent = y;
    }
    set->count--;
    give_back(set, z);
    retrace(set, fix);
}

static struct vma_node *leftmost(struct vma_node *n)
{
    while (n && n->left)
        n = n->left;
    return n;
}

static struct vma_node *rightmost(struct vma_node *n)
{
    while (n && n->right)
        n = n->right;
    return n;
}

static struct vma_node *successor(struct vma_node *n)
{
    if (n->right)
        return leftmost(n->right);
    while (n->parent && n->parent->right == n)
        n = n->parent;
    return n->parent;
}

static struct vma_node *predecessor(struct vma_node *n)
{
    if (n->left)
        return rightmost(n->left);
    while (n->parent && n->parent->left == n)
        n = n->parent;
    return n->parent;
}

/* The node containing addr, or NULL. */
static struct vma_node *find_node(const struct pl_vma_set *set, uint64_t addr)
{
    struct vma_node *n = set->root;
    while (n) {
        if (addr < n->vma.start)
            n = n->left;
        else if (addr >= n->vma.end)
            n = n->right;
        else
            return n;
    }
    return NULL;
}

/* The lowest node ending above addr, or NULL. Ends are sorted like starts. */
static struct vma_node *first_ending_after(const struct pl_vma_set *set, uint64_t addr)
{
    struct vma_node *n = set->root, *best = NULL;
    while (n) {
        if (n->vma.end > addr) {
            best = n;
            n = n->left;
        } else {
            n = n->right;
        }
    }
    return best;
}

/* ---- Regions ------------------------------------------------------------- */

/* Whether b, which starts where a ends, could be one region with a. */
static bool compatible(const struct pl_vma *a, const struct pl_vma *b)
{
    return a->end == b->start && a->prot == b->prot && a->flags == b->flags
        && a->object == b->object && a->pkey == b->pkey
        && (!a->object || a->offset + pages(a->start, a->end) == b->offset);
}

/* Moves v's start to addr (inside v), keeping the object offset of each page. */
static void advance_start(struct pl_vma *v, uint64_t addr)
{
    if (v->object)
        v->offset += pages(v->start, addr);
    v->start = addr;
}

/* The part [start, end) of v (which contains it). */
static struct pl_vma clip(const struct pl_vma *v, uint64_t start, uint64_t end)
{
    struct pl_vma piece = *v;
    advance_start(&piece, start);
    piece.end = end;
    return piece;
}

/* Splits n at addr (strictly inside it) using a reserved node: n keeps
 * [start, addr). Returns the new node holding [addr, end). */
static struct vma_node *split(struct pl_vma_set *set, struct vma_node *n, uint64_t addr)
{
    assert(n->vma.start < addr && addr < n->vma.end);
    struct pl_vma right = clip(&n->vma, addr, n->vma.end);
    n->vma.end = addr;
    retrace(set, n);
    struct vma_node *r = take_spare(set, &right);
    link_node(set, r);
    return r;
}

/* Absorbs y, the compatible region right after x, into x. */
static void merge_next(struct pl_vma_set *set, struct vma_node *x, struct vma_node *y)
{
    assert(compatible(&x->vma, &y->vma));
    x->vma.end = y->vma.end;
    unlink_node(set, y);
    retrace(set, x);
}

static void report(pl_vma_removed_fn *removed, void *ctx, const struct pl_vma *piece)
{
    if (removed)
        removed(ctx, piece);
}

/* The full check after every change, in builds with -Dinvariants=2. */
static void check_after_change(const struct pl_vma_set *set)
{
    (void)set;
#if PL_INVARIANTS >= 2
    assert(pl_vma_set_check(set, NULL) == 0);
#endif
}

static bool valid_range(uint64_t start, uint64_t end)
{
    return start < end && aligned(start) && aligned(end);
}

/* Whether v is a region the set may hold (offset aside when no object). */
static bool valid_vma(const struct pl_vma *v)
{
    uint32_t sharing = v->flags & (PL_MAP_SHARED | PL_MAP_PRIVATE);
    return valid_range(v->start, v->end) && (v->prot & ~PL_PROT_MASK) == 0
        && (v->flags & ~PL_VMA_FLAGS_MASK) == 0
        && (sharing == PL_MAP_SHARED || sharing == PL_MAP_PRIVATE) && v->pkey < PL_VMA_PKEYS
        && (!v->object || v->offset <= UINT64_MAX - pages(v->start, v->end));
}

/* Node spares pl_vma_remove(start, end) will need: one when a single region
 * reaches past both edges. */
static int remove_needs(const struct pl_vma_set *set, uint64_t start, uint64_t end)
{
    const struct vma_node *n = find_node(set, start);
    return n && n->vma.start < start && n->vma.end > end;
}

/* Removes [start, end) with enough spares reserved (remove_needs). */
static void remove_range(struct pl_vma_set *set, uint64_t start, uint64_t end,
    pl_vma_removed_fn *removed, void *ctx)
{
    struct vma_node *n = first_ending_after(set, start);
    if (!n || n->vma.start >= end)
        return;
    if (n->vma.start < start) {
        struct pl_vma piece = clip(&n->vma, start, n->vma.end < end ? n->vma.end : end);
        if (n->vma.end > end) {
            split(set, n, end);
            n->vma.end = start;
            retrace(set, n);
            report(removed, ctx, &piece);
            return;
        }
        n->vma.end = start;
        retrace(set, n);
        report(removed, ctx, &piece);
        n = successor(n);
    }
    while (n && n->vma.end <= end) {
        struct vma_node *next = successor(n);
        struct pl_vma piece = n->vma;
        unlink_node(set, n);
        report(removed, ctx, &piece);
        n = next;
    }
    if (n && n->vma.start < end) {
        struct pl_vma piece = clip(&n->vma, n->vma.start, end);
        advance_start(&n->vma, end);
        retrace(set, n);
        report(removed, ctx, &piece);
    }
}

/* ---- Public interface ----------------------------------------------------- */

struct pl_vma_set *pl_vma_set_new(void)
{
    struct pl_vma_set *set = calloc(1, sizeof *set);
    if (set)
        set->fail_after = -1;
    return set;
}

static void free_subtree(struct vma_node *n)
{
    while (n) {
        free_subtree(n->left);
        struct vma_node *right = n->right;
        free(n);
        n = right;
    }
}

void pl_vma_set_free(struct pl_vma_set *set)
{
    if (!set)
        return;
    free_subtree(set->root);
    for (int i = 0; i < set->spares; i++)
        free(set->spare[i]);
    free(set);
}

uint64_t pl_vma_set_count(const struct pl_vma_set *set) { return set->count; }

void pl_vma_set_fail_alloc_after(struct pl_vma_set *set, int64_t n) { set->fail_after = n < 0 ? -1 : n; }

const struct pl_vma *pl_vma_find(const struct pl_vma_set *set, uint64_t addr)
{
    const struct vma_node *n = find_node(set, addr);
    return n ? &n->vma : NULL;
}

const struct pl_vma *pl_vma_first_in(const struct pl_vma_set *set, uint64_t start, uint64_t end)
{
    if (start >= end)
        return NULL;
    const struct vma_node *n = first_ending_after(set, start);
    return n && n->vma.start < end ? &n->vma : NULL;
}

const struct pl_vma *pl_vma_first(const struct pl_vma_set *set)
{
    const struct vma_node *n = leftmost(set->root);
    return n ? &n->vma : NULL;
}

const struct pl_vma *pl_vma_last(const struct pl_vma_set *set)
{
    const struct vma_node *n = rightmost(set->root);
    return n ? &n->vma : NULL;
}

const struct pl_vma *pl_vma_next(const struct pl_vma_set *set, const struct pl_vma *v)
{
    (void)set;
    const struct vma_node *n = successor(node_of(v));
    return n ? &n->vma : NULL;
}

const struct pl_vma *pl_vma_prev(const struct pl_vma_set *set, const struct pl_vma *v)
{
    (void)set;
    const struct vma_node *n = predecessor(node_of(v));
    return n ? &n->vma : NULL;
}

/* What a free-range search looks for: a + len <= limit, a >= low. */
struct gap_query {
    uint64_t len, low, limit;
};

enum fit { FIT_NONE, FIT_FOUND, FIT_STOP };

/* Tries the hole [gs, ge). FIT_STOP when even its start is too high: every
 * later hole starts higher still. */
static enum fit fit_hole(uint64_t gs, uint64_t ge, const struct gap_query *q, uint64_t *addr)
{
    uint64_t a = max_u64(gs, q->low);
    if (a > q->limit - q->len)
        return FIT_STOP;
    if (ge > a && ge - a >= q->len) {
        *addr = a;
        return FIT_FOUND;
    }
    return FIT_NONE;
}

/* Searches, lowest first, the hole [prev_end, lo(n)) and the holes between
 * the regions of n's subtree. Subtrees are skipped when none of their holes
 * is long enough or all of them end too low. */
static enum fit fit_subtree(const struct vma_node *n, uint64_t prev_end, const struct gap_query *q,
    uint64_t *addr)
{
    if (!n || n->hi <= q->low + q->len)
        return FIT_NONE;
    if (n->lo - prev_end < q->len && n->max_gap < q->len)
        return FIT_NONE;
    if (prev_end > q->limit - q->len)
        return FIT_STOP;
    enum fit r = fit_subtree(n->left, prev_end, q, addr);
    if (r != FIT_NONE)
        return r;
    r = fit_hole(n->left ? n->left->hi : prev_end, n->vma.start, q, addr);
    if (r != FIT_NONE)
        return r;
    return fit_subtree(n->right, n->vma.end, q, addr);
}

/* The lowest fit for q anywhere, including above the last region. */
static bool fit(const struct pl_vma_set *set, const struct gap_query *q, uint64_t *addr)
{
    if (q->low > q->limit - q->len)
        return false;
    enum fit r = fit_subtree(set->root, 0, q, addr);
    if (r == FIT_NONE)
        r = fit_hole(set->root ? set->root->hi : 0, UINT64_MAX, q, addr);
    return r == FIT_FOUND;
}

int pl_vma_find_gap(const struct pl_vma_set *set, uint64_t len, uint64_t hint, uint64_t floor,
    uint64_t limit, uint64_t *addr)
{
    if (len == 0 || !aligned(len) || !aligned(floor) || !aligned(limit) || floor > limit)
        return PL_EINVAL;
    if (len > limit - floor)
        return PL_ERANGE;
    if (hint <= UINT64_MAX - PAGE_MASK) {
        struct gap_query up = {.len = len, .low = max_u64((hint + PAGE_MASK) & ~PAGE_MASK, floor),
            .limit = limit};
        if (fit(set, &up, addr))
            return 0;
    }
    struct gap_query any = {.len = len, .low = floor, .limit = limit};
    return fit(set, &any, addr) ? 0 : PL_ERANGE;
}

int pl_vma_insert(struct pl_vma_set *set, const struct pl_vma *v, bool replace,
    pl_vma_removed_fn *removed, void *ctx)
{
    if (!valid_vma(v))
        return PL_EINVAL;
    if (!replace && pl_vma_first_in(set, v->start, v->end))
        return PL_ERANGE;
    int err = reserve(set, 1 + (replace ? remove_needs(set, v->start, v->end) : 0));
    if (err)
        return err;
    struct pl_vma new = *v;
    if (!new.object)
        new.offset = 0;
    if (replace)
        remove_range(set, new.start, new.end, removed, ctx);

    struct vma_node *prev = new.start ? find_node(set, new.start - 1) : NULL;
    struct vma_node *next = find_node(set, new.end);
    bool with_prev = prev && compatible(&prev->vma, &new);
    bool with_next = next && compatible(&new, &next->vma);
    if (with_prev) {
        prev->vma.end = new.end;
        retrace(set, prev);
        if (with_next)
            merge_next(set, prev, next);
    } else if (with_next) {
        next->vma.start = new.start;
        next->vma.offset = new.offset;
        retrace(set, next);
    } else {
        link_node(set, take_spare(set, &new));
    }
    check_after_change(set);
    return 0;
}

int pl_vma_remove(struct pl_vma_set *set, uint64_t start, uint64_t end,
    pl_vma_removed_fn *removed, void *ctx)
{
    if (!valid_range(start, end))
        return PL_EINVAL;
    int err = reserve(set, remove_needs(set, start, end));
    if (err)
        return err;
    remove_range(set, start, end, removed, ctx);
    check_after_change(set);
    return 0;
}

/* Whether region v already has the rights and key a change would give it. */
static bool unchanged(const struct pl_vma *v, uint32_t prot, uint8_t pkey)
{
    return v->prot == prot && v->pkey == pkey;
}

/* Gives [start, end) prot and pkey (keep_pkey: each region keeps its own). */
static int change(struct pl_vma_set *set, uint64_t start, uint64_t end, uint32_t prot,
    bool keep_pkey, uint8_t pkey)
{
    if (!valid_range(start, end) || (prot & ~PL_PROT_MASK) != 0 || pkey >= PL_VMA_PKEYS)
        return PL_EINVAL;
    struct vma_node *first = find_node(set, start);
    if (!first)
        return PL_EFAULT;
    uint64_t covered = first->vma.end;
    for (struct vma_node *n = successor(first); covered < end; n = successor(n)) {
        if (!n || n->vma.start != covered)
            return PL_EFAULT;
        covered = n->vma.end;
    }

    struct vma_node *last = find_node(set, end - 1);
    int need = 0;
    if (first->vma.start < start && !unchanged(&first->vma, prot, keep_pkey ? first->vma.pkey : pkey))
        need++;
    if (last->vma.end > end && !unchanged(&last->vma, prot, keep_pkey ? last->vma.pkey : pkey))
        need++;
    int err = reserve(set, need);
    if (err)
        return err;

    for (struct vma_node *n = first; n && n->vma.start < end; n = successor(n)) {
        uint8_t key = keep_pkey ? n->vma.pkey : pkey;
        if (unchanged(&n->vma, prot, key))
            continue;
        if (n->vma.start < start)
            n = split(set, n, start);
        if (n->vma.end > end)
            split(set, n, end);
        n->vma.prot = prot;
        n->vma.pkey = key;
    }

    /* Only boundaries inside [start, end] can have become mergeable. */
    struct vma_node *x = find_node(set, start);
    struct vma_node *p = predecessor(x);
    if (p && p->vma.end == x->vma.start)
        x = p;
    for (struct vma_node *y = successor(x); y && x->vma.end <= end; y = successor(x)) {
        if (compatible(&x->vma, &y->vma))
            merge_next(set, x, y);
        else
            x = y;
    }
    check_after_change(set);
    return 0;
}

int pl_vma_protect(struct pl_vma_set *set, uint64_t start, uint64_t end, uint32_t prot)
{
    return change(set, start, end, prot, true, 0);
}

int pl_vma_protect_pkey(struct pl_vma_set *set, uint64_t start, uint64_t end, uint32_t prot,
    uint8_t pkey)
{
    return change(set, start, end, prot, false, pkey);
}

/* ---- Checker ------------------------------------------------------------- */

struct check {
    const struct pl_vma *prev; /* the region before, in order */
    uint64_t count;
    const char *why;
};

static bool fail(struct check *c, const char *why)
{
    if (!c->why)
        c->why = why;
    return false;
}

/* Checks one region against its predecessor in order. */
static bool check_region(struct check *c, const struct pl_vma *v)
{
    if (v->start >= v->end)
        return fail(c, "empty region");
    if (!aligned(v->start) || !aligned(v->end))
        return fail(c, "region not page aligned");
    if (!valid_vma(v))
        return fail(c, "malformed region (prot, flags, pkey or offset)");
    if (!v->object && v->offset != 0)
        return fail(c, "offset without an object");
    if (c->prev && c->prev->end > v->start)
        return fail(c, "regions out of order or overlapping");
    if (c->prev && compatible(c->prev, v))
        return fail(c, "two touching regions that should have merged");
    c->prev = v;
    c->count++;
    return true;
}

/* Checks n's subtree in order: links, balance, heights and summaries. */
static bool check_subtree(struct check *c, const struct vma_node *n, const struct vma_node *parent)
{
    if (!n)
        return true;
    if (n->parent != parent)
        return fail(c, "wrong parent link");
    if (!check_subtree(c, n->left, n) || !check_region(c, &n->vma)
        || !check_subtree(c, n->right, n))
        return false;
    int lh = height(n->left), rh = height(n->right);
    if (lh - rh > 1 || rh - lh > 1)
        return fail(c, "tree out of balance");
    struct vma_node expect = *n;
    update(&expect);
    if (expect.height != n->height)
        return fail(c, "wrong height");
    if (expect.lo != n->lo || expect.hi != n->hi || expect.max_gap != n->max_gap)
        return fail(c, "stale subtree summary");
    return true;
}

int pl_vma_set_check(const struct pl_vma_set *set, const char **why)
{
    struct check c = {0};
    if (check_subtree(&c, set->root, NULL) && c.count != set->count)
        fail(&c, "wrong region count");
    if (set->spares < 0 || set->spares > SPARES)
        fail(&c, "wrong spare count");
    if (why)
        *why = c.why;
    return c.why ? PL_EINVAL : 0;
}

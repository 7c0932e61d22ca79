-- Transparent huge pages (huge_anon): a first touch maps 2 MiB with one
-- PDE; a partial mprotect splits it into a page table of 512 PTEs; fork
-- shares a 2M leaf copy-on-write. docs/huge-pages.md.
local hex = ptelab.hex
local PAGE = ptelab.PAGE_SIZE
local HUGE = 512 * PAGE
local m = ptelab.machine{ram = "16M", huge_anon = true}
local p = m:spawn()
local a = assert(p:mmap{len = 2 * HUGE, prot = "rw"})
print("region at", hex(a), "aligned to 2 MiB:", a % HUGE == 0)

assert(p:write(a + 0x1234, "huge"))
p:page_table()
local e, at, level = p:pte(a + 0x100000)
print("pte of a + 1 MiB: level", level, hex(e))
print("resident", p:stats().resident, "thp_fault", p:stats().thp_fault, "zero_fill", p:stats().zero_fill)
p:walk(a + 0x1234)

-- the whole 2 MiB read-only: the leaf changes, no split
assert(p:mprotect(a, HUGE, "r"))
print("after mprotect of the whole 2 MiB:", #p:mappings(), "leaf, split", m:stats().kernel.thp_split)

-- one page of it writable again: the leaf is split first
assert(p:mprotect(a + 5 * PAGE, PAGE, "rw"))
e, at, level = p:pte(a + 0x1234)
print("after mprotect of one page:", #p:mappings(), "leaves, split", m:stats().kernel.thp_split, "level", level, hex(e))
m:history{why = "split", level = 2}
print("contents kept:", p:read(a + 0x1234, 4))

-- the second 2 MiB: fork shares its leaf; the child's write splits its own
assert(p:write(a + HUGE, "parent"))
local c = assert(p:fork())
local pe = p:pte(a + HUGE)
local ce = c:pte(a + HUGE)
print("fork: parent", hex(pe), "child", hex(ce))
assert(c:write(a + HUGE + 3 * PAGE, "child"))
print("child copied", m:stats().kernel.cow_copy, "page; child level", select(3, c:pte(a + HUGE)),
      "parent level", select(3, p:pte(a + HUGE)))
print("parent reads", p:read(a + HUGE, 6), p:read(a + HUGE + 3 * PAGE, 5) == "\0\0\0\0\0")
print("child reads", c:read(a + HUGE, 6), c:read(a + HUGE + 3 * PAGE, 5))
local k = m:stats().kernel
print("kernel: thp_fault", k.thp_fault, "thp_fallback", k.thp_fallback, "thp_split", k.thp_split)
assert(m:check())

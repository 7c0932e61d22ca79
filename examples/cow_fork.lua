-- fork with copy-on-write.
--
-- fork copies the page tables, not the pages: every private page is then
-- mapped read-only in both processes, its frame counted twice. The first
-- write by either side faults (protection, error code 0x7: P=1, write,
-- user). If others still use the frame, the writer gets a copy
-- ("cow-copy"); if the writer is the frame's last user, its entry is simply
-- made writable again ("cow-reuse"): no copy.
--
--   ptelab run examples/cow_fork.lua

local hex = ptelab.hex
local m = ptelab.machine{ram = "16M"}
local parent = m:spawn()

-- Prints the PTE mapping addr in p and its frame's reference count.
local function show(label, p, addr)
  local e, at = p:pte(addr)
  local frame = m:frame(ptelab.decode(e).addr)
  print(string.format("  %-7s pid %d PTE at %s = %s  %s  (frame refcount %d)", label, p.pid, hex(at), hex(e),
    ptelab.describe(e), frame.refcount))
end

local a = assert(parent:mmap{len = ptelab.PAGE_SIZE, prot = "rw"})
-- Writes text padded to 16 bytes; reads 16 bytes back.
local function put(p, text) assert(p:write(a, string.format("%-16s", text))) end
local function get(p) return (assert(p:read(a, 16)):gsub(" +$", "")) end

put(parent, "original")
print("before fork, the parent's page is writable:")
show("parent", parent, a)

local child = assert(parent:fork())
print("after fork, both map the same frame read-only:")
show("parent", parent, a)
show("child", child, a)
print("  the child reads \"" .. get(child) .. "\"")

put(child, "child's copy")
print("the child writes: a fault, the frame is shared, so the child gets a copy:")
show("parent", parent, a)
show("child", child, a)

put(parent, "parent's own")
print("the parent writes: a fault, but it is the frame's last user, so no copy:")
show("parent", parent, a)
show("child", child, a)

print("the parent reads \"" .. get(parent) .. "\", the child \"" .. get(child) .. "\"")
local k = m:stats().kernel
print(string.format("forks %d, cow-copy %d, cow-reuse %d", k.forks, k.cow_copy, k.cow_reuse))

-- The leaf's history in both processes (level 1: the PTEs only).
print()
m:history{addr = a, level = 1}
m:check()
print("invariants hold")

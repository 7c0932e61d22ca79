-- Demand paging with zero-fill.
--
-- mmap only records a region: no frame, no entry. The first access to each
-- page faults (not present); the kernel finds the region, takes a fresh
-- frame, zeroes it and maps it, and the access is retried. Nothing of the
-- frame's previous owner can leak: every frame handed out is zero.
--
--   ptelab run examples/zero_fill.lua

local hex = ptelab.hex
local m = ptelab.machine{ram = "16M"}
local p = m:spawn()

-- Prints the PTE that maps addr in p, decoded.
local function show(label, addr)
  local e, at = p:pte(addr)
  if not e then
    print(string.format("%-24s no page table reaches %s yet", label, hex(addr)))
  else
    print(string.format("%-24s PTE at %s = %s  %s", label, hex(at), hex(e), ptelab.describe(e)))
  end
end

local a = assert(p:mmap{len = 2 * ptelab.PAGE_SIZE, prot = "rw"})
print("mmap: region " .. hex(a) .. " .. " .. hex(a + 2 * ptelab.PAGE_SIZE) .. " rw, nothing mapped")
show("before the first read:", a)

-- The first touch: a not-present fault (error code 0x4: user read, P=0).
local bytes = assert(p:read(a + 8, 8))
print("read 8 bytes at " .. hex(a + 8) .. ": all zero? " .. tostring(bytes == string.rep("\0", 8)))
show("after the first read:", a)
local s = p:stats()
print(string.format("faults %d, zero-fill %d, resident pages %d, page-table pages %d",
  s.faults, s.zero_fill, s.resident, s.pt_pages))

-- The page is mapped writable (the region is rw): a write needs no fault,
-- the hardware sets the dirty bit.
assert(p:write(a, "hello"))
show("after a write:", a)
print("faults still " .. p:stats().faults)

-- The second page is still untouched; a write to it is its first touch.
show("second page, untouched:", a + ptelab.PAGE_SIZE)
assert(p:write(a + ptelab.PAGE_SIZE, "world"))
show("second page, written:", a + ptelab.PAGE_SIZE)
print("faults " .. p:stats().faults .. ", zero-fill " .. p:stats().zero_fill)

-- Why each entry changed: the kernel records every entry it writes. The
-- tables on the way were created by the first fault ("table"), the leaf by
-- the zero-fill; A and D were set by the hardware, not recorded.
print()
m:history{pid = p.pid, addr = a}
m:check()
print("invariants hold")

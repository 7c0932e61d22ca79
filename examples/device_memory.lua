-- Device memory: the same MMIO registers through UC and WB mappings.
--
-- A register device at 0xFE000000 has a COUNTER (+0x00) that advances on
-- every read and a DOORBELL (+0x08) that rings on every write. The kernel
-- ioremaps its page twice, once UC (PCD|PWT: PAT entry 3) and once WB; a
-- process maps it the same two ways. Through UC every read reaches the
-- device (the counter advances each time) and every write rings at once.
-- Through WB the first read fills a cache line and later reads hit it: the
-- counter looks frozen until CLFLUSH; a write sits dirty in the line and
-- the doorbell rings only when the line is flushed.
--
--   ptelab run examples/device_memory.lua

local hex = ptelab.hex
local m = ptelab.machine{ram = "16M"}
local DEV = 0xFE000000
assert(m:device{base = DEV, size = "4K"})
local COUNTER, DOORBELL = 0x00, 0x08

local function dev(what)
  local s = m:device_state(DEV)
  print(string.format("    device: counter=%d rings=%d last_ring=%s  (%s)", s.counter, s.rings,
    hex(s.last_ring), what))
end

print("kernel: ioremap UC and WB")
local uc = assert(m:ioremap(DEV, "4K", "UC"))
local wb = assert(m:ioremap(DEV, "4K", "WB"))
print("  UC at " .. hex(uc) .. ", WB at " .. hex(wb))

print("  three reads of COUNTER through UC:", m:kread(uc + COUNTER), m:kread(uc + COUNTER),
  m:kread(uc + COUNTER))
assert(m:kwrite(uc + DOORBELL, 0x11))
dev("after one UC write to DOORBELL: rung at once")

print("  three reads of COUNTER through WB:", m:kread(wb + COUNTER), m:kread(wb + COUNTER),
  m:kread(wb + COUNTER))
dev("one line fill read the device once")
assert(m:kwrite(wb + DOORBELL, 0x22))
dev("after a WB write to DOORBELL: the line is dirty, no ring")
assert(m:clflush(wb))
dev("after clflush: the dirty word reached the device")
print("  COUNTER through WB after the flush:", m:kread(wb + COUNTER))
assert(m:iounmap(uc))
print("  after iounmap, a read through the old UC address:", m:kread(uc + COUNTER))

print("process: mmap_device UC and WB")
local p = m:spawn()
local puc = assert(p:mmap_device{phys = DEV, len = "4K", prot = "rw", memtype = "UC"})
local pwb = assert(p:mmap_device{phys = DEV, len = "4K", prot = "rw", memtype = "WB"})
print("  reads through UC:", p:read_u64(puc), p:read_u64(puc))
print("  reads through WB:", p:read_u64(pwb), p:read_u64(pwb))
local function leaf(addr)
  local e = p:pte(addr)
  print(string.format("  PTE for %s = %s  %s", hex(addr), hex(e), ptelab.describe(e)))
end
leaf(puc)
leaf(pwb)
assert(p:write_u64(pwb + DOORBELL, 0x33))
dev("process WB write: not yet")
assert(p:clflush(pwb))
dev("process clflush: rung")
print("  a one-byte read of a register:", p:read(puc, 1))

local s = m:cache_stats()
print(string.format("cache: hits=%d misses=%d fills=%d writebacks=%d uncached=%d clflushes=%d device_accesses=%d cycles=%d",
  s.hits, s.misses, s.fills, s.writebacks, s.uncached, s.clflushes, s.device_accesses, s.cycles))
assert(m:check())

-- The views: page_table, walk, pte, mappings, history, writes, and the
-- entry helpers.
local hex = ptelab.hex
local PAGE = ptelab.PAGE_SIZE
local m = ptelab.machine{ram = "16M"}
local p = m:spawn()
p:page_table()
local a = assert(p:mmap{len = 3 * PAGE, prot = "rw"})
assert(p:write(a, "a"))
assert(p:read(a + PAGE, 1))
assert(p:write(a + 2 * PAGE, "c"))
assert(p:mprotect(a + 2 * PAGE, PAGE, "none"))
p:page_table()

-- mappings: the same leaves as data.
for _, e in ipairs(p:mappings()) do
  print(hex(e.va), e.level, hex(e.entry_pa), hex(e.entry))
end

-- pte: the entry for an address: user leaf, kernel 2M leaf, nothing.
local ue, uat, ulevel = p:pte(a)
print("pte user", hex(ue), hex(uat), ulevel)
local e, at, level = p:pte(m:direct_map_base() + 0x300000)
print("pte kernel", hex(e), hex(at), level)
print("pte no table", p:pte(0x7f0000000000))
print("pte non-canonical", p:pte(0x0000800000000000))
print("pte empty slot", hex((p:pte(a + 3 * PAGE))))

-- walk: a write to the read-only... here writable page; a fetch from an XD
-- page; a supervisor read of a user page with SMAP; a non-canonical address.
-- None of them changes an accessed or dirty bit.
local before = p:pte(a + PAGE)
print(p:walk(a + PAGE, "write"))
print("the walk left the entry as it was:", p:pte(a + PAGE) == before)
print(p:walk(a, "fetch"))
print(p:walk(a, "read", 0))
print(p:walk(a + 2 * PAGE))
print(p:walk(0x0000800000000000))
print(pcall(p.walk, p, a, "jump"))
print(pcall(p.walk, p, a, "read", 4))

-- history filters: pid, addr, level, why, last.
print(m:history{pid = p.pid, addr = a + 2 * PAGE, level = 1})
print(m:history{pid = p.pid, why = "mprotect"})
print(m:history{pid = 0, last = 1})
print(m:history{pid = 99})
print(pcall(m.history, m, {why = "magic"}))
print(pcall(m.history, m, {pid = -1}))
print(pcall(m.history, m, {level = 6}))
print(pcall(m.history, m, {colour = "red"}))

-- writes: records as tables.
local w = m:writes{pid = p.pid, level = 1}
print("leaf writes", #w)
for _, r in ipairs(w) do
  print(r.seq, r.why, r.pid, r.level, hex(r.va), hex(r.entry_pa), hex(r.old), hex(r.new))
end
print("last 2 of all", #m:writes{last = 2}, m:writes{last = 1}[1].seq == m:writes{}[#m:writes{}].seq)

-- The entry helpers.
print(ptelab.hex(0), ptelab.hex(-1), ptelab.hex(0x1234))
print(ptelab.describe(0))
print(ptelab.describe(0x8000000000203067))
print(ptelab.describe(0x8000000000203066))
print(ptelab.describe(0x0000000000204027, 4))
print(ptelab.describe(0x80000000002001e3, 2))
print(ptelab.describe(0x00000000400001e3, 3))
print(ptelab.describe(0x0800000000203007))
local d = ptelab.decode(0x8000000000203067)
print(d.p, d.rw, d.us, d.pwt, d.pcd, d.a, d.d, d.g, d.xd, d.leaf, d.pkey, hex(d.addr), d.ps)
d = ptelab.decode(0x80000000002001e3, 2)
print(d.leaf, d.ps, d.g, hex(d.addr))
d = ptelab.decode(0x0000000000204027, 4)
print(d.leaf, d.d, hex(d.addr))
print(pcall(ptelab.describe, 1, 0))

-- A machine without history records nothing.
local quiet = ptelab.machine{ram = "4M", history = false}
local q = quiet:spawn()
assert(q:write(assert(q:mmap{len = PAGE}), "x"))
print(quiet:history{}, #quiet:writes{}, quiet:stats().kernel.pte_writes > 0)
m:check()
print("ok")

-- Protection keys (x86 PKU) with Linux's system calls.
--
-- Every user page carries a 4-bit key in its leaf entry (bits 62:59). The
-- PKRU register holds, per key, AD (access disable) and WD (write disable);
-- it is checked on every data access to a user page, TLB hits included, so
-- changing it (WRPKRU, an unprivileged instruction) changes the rights of
-- every page of a key at once, with no system call and no TLB flush. A new
-- process starts with Linux's PKRU 0x55555554: key 0 open, keys 1..15
-- access-disabled. A fault a key causes has PK (0x20) in its error code and
-- reaches the process as SEGV_PKUERR carrying the key.
--
--   ptelab run examples/pkeys.lua

local hex = ptelab.hex
local m = ptelab.machine{ram = "16M"}
local p = m:spawn()
print(string.format("initial PKRU 0x%08x, keys allocated: %s", p:rdpkru(), table.concat(p:pkeys(), ",")))

local a = assert(p:mmap{len = 2 * ptelab.PAGE_SIZE, prot = "rw"})
assert(p:write(a, "page zero"))
assert(p:write(a + ptelab.PAGE_SIZE, "page one"))

-- A key for the second page, write-disabled from the start.
local key = assert(p:pkey_alloc{disable_write = true})
print(string.format("pkey_alloc -> key %d, PKRU now 0x%08x", key, p:rdpkru()))
assert(p:pkey_mprotect(a + ptelab.PAGE_SIZE, ptelab.PAGE_SIZE, "rw", key))
for _, va in ipairs{a, a + ptelab.PAGE_SIZE} do
  local e = p:pte(va)
  print(hex(va) .. ": key " .. ptelab.decode(e).pkey .. "  " .. ptelab.describe(e))
end

p:on_segv(function(info, q)
  print(string.format("  signal %s: %s at %s, error code 0x%x, pkey %d", info.code, info.kind, hex(info.addr),
    info.error_code, info.pkey))
  -- open the key and retry the access
  assert(q:wrpkru(q:rdpkru() & ~(3 << (2 * info.pkey))))
  return "retry"
end)

local flushes = m:stats().kernel.tlb_flush_pages
print("read of the keyed page:", p:read(a + ptelab.PAGE_SIZE, 8))
print("write of the keyed page (WD set):")
assert(p:write(a + ptelab.PAGE_SIZE, "written"))
print(string.format("after the handler's WRPKRU: PKRU 0x%08x; the write went through: %s", p:rdpkru(),
  p:read(a + ptelab.PAGE_SIZE, 7)))
print("TLB flushes by the kernel meanwhile: " .. (m:stats().kernel.tlb_flush_pages - flushes))

-- Access-disable: even reads fault.
assert(p:wrpkru(p:rdpkru() | (1 << (2 * key))))
print("read with AD set:")
print("  got", p:read(a + ptelab.PAGE_SIZE, 4))

-- pkey_free of a key still in use: allowed, as on Linux; the page keeps it.
assert(p:pkey_free(key))
print("after pkey_free, the page's key: " .. ptelab.decode((p:pte(a + ptelab.PAGE_SIZE))).pkey ..
  ", keys allocated: " .. table.concat(p:pkeys(), ","))
m:check()

-- User/kernel separation.
--
-- The upper half of every address space is the kernel's: the same entries
-- in every process, holding among others a direct map of all RAM. Its
-- top-level entries have U/S = 0, so the whole half is supervisor-only: a
-- user-mode access faults on U/S (error code 0x5: P=1, read, user) however
-- the lower levels are set. The kernel finds no region there, signals
-- SEGV_MAPERR and, as the process has no handler, kills it; everything the
-- process held is freed.
--
--   ptelab run examples/user_kernel.lua

local hex = ptelab.hex
local m = ptelab.machine{ram = "16M"}
local p, q = m:spawn(), m:spawn()
local kaddr = m:direct_map_base() + 0x200000 -- physical address 2 MiB, through the direct map
print("user half ends at " .. hex(m:user_top()) .. ", the direct map starts at " .. hex(m:direct_map_base()))

-- Both processes reach the kernel's address through the same entry.
local ep, ep_at, level = p:pte(kaddr)
local eq, eq_at = q:pte(kaddr)
print(string.format("pid %d: level-%d entry at %s = %s", p.pid, level, hex(ep_at), hex(ep)))
print(string.format("pid %d: level-%d entry at %s = %s", q.pid, level, hex(eq_at), hex(eq)))
print("  " .. ptelab.describe(ep, level))

-- The walk a user-mode read would make, and the same walk in supervisor
-- mode (CPL 0), which is allowed.
p:walk(kaddr, "read", 3)
p:walk(kaddr, "read", 0)

local a = assert(p:mmap{len = ptelab.PAGE_SIZE, prot = "rw"})
assert(p:write(a, "user data"))
local used = m:stats().frames.used
print("pid " .. p.pid .. " holds a page; frames in use: " .. used)

print("pid " .. p.pid .. " reads " .. hex(kaddr) .. ":", p:read(kaddr, 8))
local info = p:kill_info()
print(string.format("pid %d is %s: %s %s at %s, error code 0x%x", p.pid, p:state(), info.code, info.kind,
  hex(info.addr), info.error_code))
print("frames in use: " .. m:stats().frames.used .. " (its page and page tables are free again)")
print("pid " .. q.pid .. " is " .. q:state() .. ", pid " .. p.pid .. " answers", p:read(a, 4))
p:page_table()
print("kills: " .. m:stats().kernel.kills)
m:check()
print("invariants hold")

-- Shared memory with different rights.
--
-- One shared-memory object, mapped read-write in process A and read-only
-- in process B: both entries point at the same frame, but only A's has
-- R/W = 1. B's write faults with a protection error (error code 0x7: P=1,
-- write, user) even though A may write the very same frame; the kernel
-- sees B's region is read-only and signals SEGV_ACCERR. B's handler, in
-- Lua, first abandons the write, then fixes its mapping and retries.
--
--   ptelab run examples/shared_memory.lua

local hex = ptelab.hex
local m = ptelab.machine{ram = "16M"}
local obj = m:shm(ptelab.PAGE_SIZE)
local A, B = m:spawn(), m:spawn()

local a = assert(A:mmap{len = ptelab.PAGE_SIZE, prot = "rw", shm = obj})
local b = assert(B:mmap{len = ptelab.PAGE_SIZE, prot = "r", shm = obj})
print("A maps the object rw at " .. hex(a) .. ", B maps it r at " .. hex(b))

local function show(name, p, addr)
  local e, at = p:pte(addr)
  print(string.format("  %s: PTE at %s = %s  %s", name, hex(at), hex(e), ptelab.describe(e)))
end

assert(A:write(a, "written by A"))
print("B reads \"" .. B:read(b, 12) .. "\": the same frame, different rights")
show("A", A, a)
show("B", B, b)

B:on_segv(function(info, p)
  print(string.format("  SIGSEGV in pid %d: %s %s at %s, error code 0x%x", p.pid, info.code, info.kind,
    hex(info.addr), info.error_code))
  return "abandon"
end)
print("B writes:")
print("  the write returns", B:write(b, "written by B"))
print("  B is " .. B:state() .. "; A still reads \"" .. A:read(a, 12) .. "\"")

B:on_segv(function(info, p)
  print(string.format("  SIGSEGV in pid %d: %s; the handler makes the page writable and retries", p.pid, info.code))
  assert(p:mprotect(b, ptelab.PAGE_SIZE, "rw"))
  return "retry"
end)
print("B writes again, with a handler that fixes the mapping:")
print("  the write returns", B:write(b, "written by B"))
print("  A reads \"" .. A:read(a, 12) .. "\"")
show("A", A, a)
show("B", B, b)

print()
m:history{pid = B.pid, addr = b, level = 1}
m:check()
print("invariants hold")

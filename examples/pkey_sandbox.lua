-- The syscall-wrapper sandbox: a module's data pages carry a protection key
-- k, and every system call made through the wrapper runs with WD set for k
-- (RDPKRU, WRPKRU before the call, WRPKRU after it). A system call that
-- writes user memory does so as the kernel, at CPL 0 with RFLAGS.AC = 1
-- (copy_to_user), through the CPU with the process's PKRU: so when a
-- read()-like call is handed a pointer into the module's data, the kernel's
-- own write faults with PK in the error code (0x23: P, W, PK; U/S = 0, the
-- access is the supervisor's), the copy fails with EFAULT and nothing is
-- written. The same call outside the wrapper writes the data. Beside it,
-- the same protection done with mprotect: two more system calls per call.
--
--   ptelab run examples/pkey_sandbox.lua

local hex = ptelab.hex
local PAGE = ptelab.PAGE_SIZE
local m = ptelab.machine{ram = "16M"}
local p = m:spawn()
local module = assert(p:mmap{len = 2 * PAGE, prot = "rw"})
local buf = assert(p:mmap{len = PAGE, prot = "rw"})
assert(p:write(module, "secret key material"))

local sb = assert(p:sandbox{mode = "pkey"})
assert(sb:protect(module, 2 * PAGE, "rw"))
print(tostring(sb) .. ": module data at " .. hex(module) .. " carries key " .. sb:key())

local function show(what, ok, err, errno, fault)
  if ok then
    print(what .. ": ok")
  else
    print(string.format("%s: %s (%d), %s %s at %s, error code 0x%02x, pkey %d", what, err, errno, fault.code,
      fault.kind, hex(fault.addr), fault.error_code, fault.pkey))
  end
end

local before = m:stats()
show("wrapped read_into(buf)", sb:read_into(buf, "hello"))
show("wrapped read_into(module data)", sb:read_into(module, "EVIL"))
print("module data now: " .. p:read(module, 19))
print(string.format("PKRU after the wrapper: 0x%08x (WD for key %d clear)", p:rdpkru(), sb:key()))
assert(p:write(module, "S"))
print("the module writes its own data between calls: " .. p:read(module, 6))
local after = m:stats()
print(string.format("2 wrapped calls: %d system calls, %d TLB flushes, %d signals",
  after.kernel.syscalls - before.kernel.syscalls, after.kernel.tlb_flush_pages - before.kernel.tlb_flush_pages,
  after.kernel.signals - before.kernel.signals))
show("unwrapped read_into(module data)", p:read_into(module, "EVIL"))
print("module data now: " .. p:read(module, 19))
local st = sb:stats()
print("sandbox: " .. st.calls .. " calls, " .. st.denied .. " denied")

-- The same with mprotect, in another process.
local q = m:spawn()
local qmod = assert(q:mmap{len = 2 * PAGE, prot = "rw"})
assert(q:write(qmod, "secret"))
local sm = assert(q:sandbox{mode = "mprotect"})
assert(sm:protect(qmod, 2 * PAGE, "rw"))
before = m:stats()
show("mprotect-wrapped read_into(module data)", sm:read_into(qmod, "EVIL"))
after = m:stats()
print(string.format("1 wrapped call: %d system calls, %d TLB flushes", after.kernel.syscalls - before.kernel.syscalls,
  after.kernel.tlb_flush_pages - before.kernel.tlb_flush_pages))
m:check()

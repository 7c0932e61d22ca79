-- ptelab.machine: options, configuration, layout, processes, close.
local hex = ptelab.hex

local m = ptelab.machine{ram = "16M"}
print(m)
local c = m:config()
print("ram", c.ram, "levels", c.levels, "maxphyaddr", c.maxphyaddr, "pcid", c.pcid, "pge", c.pge,
  "smep", c.smep, "smap", c.smap, "accessed_on_fault", c.accessed_on_fault, "seed", c.seed)
print("user top", hex(m:user_top()), "direct map", hex(m:direct_map_base()))

-- Every option, with 5-level paging.
local m5 = ptelab.machine{ram = 8 * 1024 * 1024, levels = 5, maxphyaddr = 40, pcid = false, pge = false,
  smep = false, smap = false, accessed_on_fault = "upper", history = true, history_limit = 1000,
  retry_limit = 5, seed = 42,
  tlb = {l1d = {["4k"] = {entries = 16, ways = 4}, ["2m"] = {entries = 0}, replacement = "random", seed = 9},
         l1i = {["4k"] = {entries = 8}}, l2 = {["1g"] = {entries = 4, ways = 2}},
         psc = {pde = {entries = 8}, pml5e = {entries = 0}, replacement = "lru"}},
  cost = {page_zero = 1000, syscall = 0}}
print(m5)
c = m5:config()
print("ram", c.ram, "levels", c.levels, "maxphyaddr", c.maxphyaddr, "pcid", c.pcid, "pge", c.pge,
  "smep", c.smep, "smap", c.smap, "accessed_on_fault", c.accessed_on_fault, "seed", c.seed)
print("user top", hex(m5:user_top()), "direct map", hex(m5:direct_map_base()))

-- The cost model is the machine's: one zero-fill costs the configured
-- page_zero, the system call nothing.
local p5 = m5:spawn()
local a = assert(p5:mmap{len = 4096})
local before = m5:stats().kernel.cycles
assert(p5:write(a, "x"))
print("kernel cycles for one zero-fill fault", m5:stats().kernel.cycles - before)
print("5-level walk reads", p5:walk(a) and "ok" or "fault")

-- Processes by pid, in pid order.
local p1, p2 = m:spawn(), m:spawn()
print(p1.pid, p2.pid, m:proc(2) == p2, m:proc(3), m:proc(0), m:proc(-1))
assert(p1:exit(0))
local pids = {}
for _, p in ipairs(m:procs()) do pids[#pids + 1] = p.pid .. ":" .. p:state() end
print("procs", table.concat(pids, " "))
print(p1.machine == m, tostring(p2))

-- Frames: the kernel's own, then a process's.
local f = m:stats().frames
print("frames total", f.total, "used", f.used, "kernel", f.kernel, "free", f.free)
print("pid 2 holds its root table only:", f.used - f.kernel)
local fr = m:frame(0x100000)
print("first allocator frame", hex(fr.pa), "kernel", fr.kernel, "page table", fr.page_table, "refcount", fr.refcount)
print("below 1 MiB (firmware)", m:frame(0x1000))
print("beyond RAM", m:frame(64 << 20))

-- close: idempotent; __close closes at the end of the scope.
m5:close()
m5:close()
print(m5)
do
  local scoped <close> = ptelab.machine{ram = "4M"}
  print(scoped)
  saved = scoped
end
print(saved)
print(pcall(saved.spawn, saved))
assert(p2:exit(0))
f = m:stats().frames
print("all exited: used - kernel =", f.used - f.kernel)
m:check()
print("ok")

-- Lifetimes: handles keep their machine alive, machines are collected when
-- nothing refers to them, coroutines may drive processes, and `require`
-- finds the module.
local PAGE = ptelab.PAGE_SIZE
print("require", require("ptelab") == ptelab, type(ptelab.version))

-- A process handle keeps its machine: drop the machine, collect, use the process.
local p
do
  local m = ptelab.machine{ram = "4M"}
  p = m:spawn()
end
collectgarbage()
collectgarbage()
local a = assert(p:mmap{len = PAGE})
print("process outlives its machine variable", p:write(a, "alive"), p:read(a, 5), p.machine)

-- Machines nobody refers to are closed by the collector.
for _ = 1, 20 do
  local m = ptelab.machine{ram = "4M"}
  local q = m:spawn()
  q:write(assert(q:mmap{len = PAGE}), "garbage")
  m:shm(PAGE)
end
collectgarbage()
collectgarbage()
print("after 20 dropped machines", p:read(a, 5))

-- The same handle for a pid, every time.
local m = p.machine
print("one handle per pid", m:proc(p.pid) == p, m:procs()[1] == p)

-- Coroutines: accesses, and handlers, run on the coroutine's thread.
local co = coroutine.wrap(function()
  local me = coroutine.running()
  p:on_segv(function(info)
    print("  handler on the coroutine's thread:", coroutine.running() == me)
    return "abandon"
  end)
  coroutine.yield(p:read(0x10000, 1))
  coroutine.yield(p:write(a, "again"))
  return p:read(a, 5)
end)
print("coroutine", co())
print("coroutine", co())
print("coroutine", co())

-- A handler cannot yield: the error comes back from the access.
local co2 = coroutine.create(function()
  p:on_segv(function() coroutine.yield("no") end)
  return p:read(0x10000, 1)
end)
local ok, err = coroutine.resume(co2)
print("yield in handler:", ok, err)
print("process", p:state())
m:check()
print("ok")

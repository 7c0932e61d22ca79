-- fork, exit, exec, and what a process handle answers once its process ended.
local hex = ptelab.hex
local PAGE = ptelab.PAGE_SIZE
local m = ptelab.machine{ram = "16M"}

local function all(...)
  local t = table.pack(...)
  for i = 1, t.n do t[i] = tostring(t[i]) end
  return table.concat(t, " ")
end

local p = m:spawn()
print(p, p.pid, p:state(), p:kill_info())
local a = assert(p:mmap{len = 2 * PAGE, prot = "rw"})
local sh = assert(p:mmap{len = PAGE, prot = "rw", shared = true})
assert(p:write(a, "private"))
assert(p:write(sh, "shared"))

-- fork: private pages copied on write, shared pages stay shared.
local c = assert(p:fork())
print("child", c.pid, c:read(a, 7), c:read(sh, 6))
assert(c:write(a, "CHILD!!"))
assert(c:write(sh, "SHARED"))
print("parent sees", p:read(a, 7), p:read(sh, 6))
print("child resident", c:stats().resident, "parent resident", p:stats().resident)
local gc = assert(c:fork())
print("grandchild", gc.pid, gc:read(a, 7))

-- exec: the user half is emptied, the pid and the handler stay.
p:on_segv(function(info) print("  handler survives exec: " .. info.code) return "abandon" end)
print("exec", p:exec(), p.pid, #p:regions(), #p:mappings(), p:stats().resident)
print("old mapping gone", all(p:read(a, 1)))
local b = assert(p:mmap{len = PAGE})
print("new mapping", hex(b), p:write(b, "fresh"), p:read(b, 5))

-- exit: the status, the frames freed.
print("exit", c:exit(3), all(c:state()))
print("exit again", all(c:exit(4)), all(c:state()))

-- Everything on an ended process: errno ESRCH, or an empty view.
print("mmap", all(c:mmap{len = PAGE}))
print("munmap", all(c:munmap(a, PAGE)))
print("mprotect", all(c:mprotect(a, PAGE, "r")))
print("read", all(c:read(a, 1)))
print("write", all(c:write(a, "x")))
print("read_u64", all(c:read_u64(a)))
print("fetch", all(c:fetch(a)))
print("fork", all(c:fork()))
print("exec", all(c:exec()))
print("on_segv", all(c:on_segv(function() end)))
print("pte", all(c:pte(a)))
print("regions", #c:regions(), "mappings", #c:mappings(), "resident", c:stats().resident)
c:page_table()
print("walk", c:walk(a))
print("kill_info", c:kill_info())
print(c)

-- The grandchild still has its copy.
print("grandchild reads", gc:read(a, 7))
local k = m:stats().kernel
print("forks", k.forks, "execs", k.execs, "exits", k.exits)
for _, q in ipairs(m:procs()) do if q:state() == "running" then q:exit(0) end end
local f = m:stats().frames
print("all ended: frames used beyond the kernel's", f.used - f.kernel)
m:check()
print("ok")

-- SIGSEGV handlers in Lua: what they receive, what each answer does,
-- inheritance by fork, nesting, removal, and the retry limit.
local hex = ptelab.hex
local PAGE = ptelab.PAGE_SIZE
local m = ptelab.machine{ram = "16M", retry_limit = 3}

-- Every value of a call, as text ("nil EFAULT 14").
local function all(...)
  local t = table.pack(...)
  for i = 1, t.n do t[i] = tostring(t[i]) end
  return table.concat(t, " ")
end
local p = m:spawn()
local a = assert(p:mmap{len = PAGE, prot = "r"})

-- info fields, and the process handle as the second argument.
p:on_segv(function(info, proc)
  local keys = {}
  for k in pairs(info) do keys[#keys + 1] = k end
  table.sort(keys)
  print("  info:", table.concat(keys, " "))
  print("  ", info.pid, hex(info.addr), info.code, info.kind, string.format("0x%x", info.error_code), info.pkey,
    proc == p)
  return "abandon"
end)
print("abandon:", all(p:write(a + 5, "x")), p:state())

-- retry after fixing the mapping: the access completes.
p:on_segv(function(info, proc)
  print("  fixing " .. hex(info.addr))
  assert(proc:mprotect(a, PAGE, "rw"))
  return "retry"
end)
print("retry:", all(p:write(a + 5, "x")), p:read(a + 5, 1))

-- retry without a fix: the kernel gives up after retry_limit signals.
local calls = 0
local q = m:spawn()
q:on_segv(function() calls = calls + 1; return "retry" end)
print("endless retry:", all(q:read(0x10000, 1)), "handler calls", calls, q:state())

-- kill: the handler's choice.
local r = m:spawn()
r:on_segv(function() return "kill" end)
print("kill:", all(r:read(0x10000, 1)), r:state())

-- Removing the handler restores the default: death.
local s = m:spawn()
s:on_segv(function() return "abandon" end)
print("with handler:", s:read(0x10000, 1))
print("remove:", s:on_segv(nil))
print("without:", all(s:read(0x10000, 1)), s:state())

-- fork: the child inherits the handler.
local t = m:spawn()
t:on_segv(function(info, proc) print("  handler runs in pid " .. proc.pid) return "abandon" end)
local child = assert(t:fork())
print("child:", all(child:read(0x10000, 1)), child:state())

-- A handler may make accesses of its own; their faults run handlers too.
local u = m:spawn()
local ua = assert(u:mmap{len = PAGE})
local depth = 0
u:on_segv(function(info, proc)
  depth = depth + 1
  print("  depth " .. depth .. " fault at " .. hex(info.addr))
  if depth == 1 then
    print("  inner read:", all(proc:read(0x20000, 1)))
    print("  inner write, a zero-fill:", all(proc:write(ua, "ok")))
  end
  return "abandon"
end)
print("nested:", all(u:read(0x10000, 1)))

-- A handler may end its own process.
local v = m:spawn()
v:on_segv(function(info, proc) proc:exit(7); return "retry" end)
print("exit in handler:", all(v:read(0x10000, 1)), v:state())

-- A handler's error is raised by the access that faulted; the process lives.
local w = m:spawn()
w:on_segv(function() error("handler failed") end)
local ok, err = pcall(w.read, w, 0x10000, 1)
print("error in handler:", ok, err, w:state())

-- on_segv checks its argument, and refuses processes that ended.
print(pcall(p.on_segv, p, 42))
print("on ended process:", r:on_segv(function() end))
print("signals", m:stats().kernel.signals, "kills", m:stats().kernel.kills)
m:check()
print("ok")

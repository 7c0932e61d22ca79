-- Swap, reclaim and the OOM killer (docs/swap.md): a process larger than
-- RAM keeps its data through swap; an OOM kill spares the -1000 process.
local m = ptelab.machine{ram = "8M",
                         swap = {slots = 1024, min = 8, low = 16, high = 32, policy = "clock", oom_killer = true}}
local p = m:spawn()
local n = 2000
local a = assert(p:mmap{len = n * 4096, prot = "rw"})
for i = 0, n - 1 do p:write(a + i * 4096, string.pack("<I8", i * 7)) end
for i = 0, n - 1 do assert(string.unpack("<I8", p:read(a + i * 4096, 8)) == i * 7) end
local st = m:swap_stats()
print("swapped out", st.swap_outs > 300, "swapped in", st.swap_ins > 300, "no kill", st.oom_kills == 0)
print("adj out of range", p:set_oom_score_adj(1001))
assert(p:set_oom_score_adj(-1000))
local q = m:spawn()
local b = assert(q:mmap{len = 4000 * 4096, prot = "rw"})
local ok = true
for i = 0, 3999 do
  if not q:write(b + i * 4096, "x") then ok = false break end
end
st = m:swap_stats()
print("grower finished", ok, "oom kills", st.oom_kills, "victim is the grower", st.last_oom_pid == q.pid)
m:check()

-- Threads and CPUs: the machine options, thread creation, calls made now on
-- a thread's CPU, the queue and the scheduler (the same seed replays the
-- same run), the views, errors, and handles after their thread, process or
-- machine ended.
local hex = ptelab.hex
local PAGE = ptelab.PAGE_SIZE

-- Every value of a call, as text ("nil EFAULT 14").
local function all(...)
  local t = table.pack(...)
  for i = 1, t.n do t[i] = tostring(t[i]) end
  return table.concat(t, " ")
end

-- ---- the machine options ----
local one = ptelab.machine{ram = "4M"}
local c = one:config()
print("defaults", one, "cpus", c.cpus, "shootdown", c.shootdown, "sched_seed", c.sched_seed)
for _, name in ipairs{"correct", "naive", "no-wait", "skip-cpu", "early-free"} do
  print("shootdown", name, ptelab.machine{ram = "4M", cpus = 2, shootdown = name}:config().shootdown)
end
print("64 cpus", ptelab.machine{ram = "4M", cpus = 64})
print("bad cpus", pcall(ptelab.machine, {ram = "4M", cpus = 0}))
print("bad shootdown", pcall(ptelab.machine, {ram = "4M", shootdown = 1}))
print("bad sched_seed", pcall(ptelab.machine, {ram = "4M", sched_seed = 1.5}))

local m = ptelab.machine{ram = "16M", cpus = 4, sched_seed = 7}
c = m:config()
print(m, "cpus", c.cpus, "shootdown", c.shootdown, "sched_seed", c.sched_seed)

-- ---- creation ----
local p = m:spawn()
local main = p:main_thread()
print("main thread", main, "tid = pid", main.tid == p.pid, "cpu", main.cpu, "proc", main.proc == p,
  "one handle", p:main_thread() == main)
local t1 = assert(p:thread{cpu = 1})
local t3 = assert(p:thread{cpu = 3})
print("threads", t1, t3, "tids", t1.tid, t3.tid, "alive", t1:alive(), "not a process", m:proc(t1.tid))
print("cpu out of range", pcall(p.thread, p, {cpu = 4}))
print("negative cpu", pcall(p.thread, p, {cpu = -1}))
print("no cpu", pcall(p.thread, p, {}))
print("unknown option", pcall(p.thread, p, {cpu = 1, core = 1}))
print("one cpu only", pcall(one:spawn().thread, one:spawn(), {cpu = 1}))

-- ---- calls made now, on the thread's CPU ----
local a = assert(t1:mmap{len = 2 * PAGE})
print("mmap by a thread", hex(a), "regions", #p:regions())
print("no shm for a thread", pcall(t1.mmap, t1, {len = PAGE, shm = m:shm(PAGE)}))
print("write on cpu 1", t1:write(a, "hello"), "read on cpu 3", t3:read(a, 5), "by the process", p:read(a, 5))

-- An unmap on CPU 3 interrupts the other CPUs that hold the address space:
-- 0 and 1, not 2.
assert(t1:write(a + PAGE, "page 2"))
local before = m:stats().kernel
print("munmap on cpu 3", t3:munmap(a + PAGE, PAGE))
local after = m:stats().kernel
print("  rounds", after.shootdowns - before.shootdowns, "IPIs", after.ipis_sent - before.ipis_sent,
  "waited", after.wait_cycles - before.wait_cycles)
for cpu = 0, 3 do
  local e, pid = m:tlb{cpu = cpu, addr = a}
  local gone = m:tlb{cpu = cpu, addr = a + PAGE}
  print("  tlb of cpu " .. cpu .. ": pid " .. pid, e and hex(e.frame) or "-", e and e.writable, e and e.size,
    "unmapped page", gone)
end
print("  IPIs received", m:cpu_stats(0).smp.ipis_received, m:cpu_stats(1).smp.ipis_received,
  m:cpu_stats(2).smp.ipis_received, m:cpu_stats(3).smp.ipis_received)
m:events{last = 8}
p:on_segv(function(info)
  print("  handler:", info.code, info.kind, hex(info.addr))
  return "abandon"
end)
print("fetch, not executable", all(t3:fetch(a)))
print("mprotect r-x", t3:mprotect(a, PAGE, "r-x"), "fetch", t1:fetch(a))
print("write, read-only now", all(t1:write(a, "x")))
print("mprotect errors", all(t1:mprotect(a + 1, PAGE, "r")), all(t1:munmap(a + 1, PAGE)))

-- PKRU belongs to the thread.
print("wrpkru on cpu 1", t1:wrpkru(0x55555550), "rdpkru", string.format("0x%x 0x%x", t1:rdpkru(), main:rdpkru()))
print("wrpkru range", pcall(t1.wrpkru, t1, -1))

-- A sleeping thread's CPU goes idle in lazy TLB mode.
print("sleep", t3:sleep())
m:events{cpu = 3, last = 2}

-- ---- the queue and the scheduler ----
-- The same seed gives the same interleaving, event for event.
local function queued_run(seed)
  local qm = ptelab.machine{ram = "16M", cpus = 3, sched_seed = seed}
  local qp = qm:spawn()
  local qa = assert(qp:mmap{len = 2 * PAGE})
  local ts = {qp:main_thread(), assert(qp:thread{cpu = 1}), assert(qp:thread{cpu = 2})}
  local function words(t, i, from, to) -- thread i writes 10i + j to its word
    for j = from, to do t:queue{op = "write", addr = qa + 8 * i, value = 10 * i + j} end
  end
  for _, t in ipairs(ts) do t:queue{op = "read", addr = qa + PAGE} end -- every CPU caches page 2
  words(ts[1], 1, 1, 3)
  ts[1]:queue{op = "read", addr = qa + 16}
  ts[1]:queue{op = "munmap", addr = qa + PAGE, len = PAGE}
  ts[2]:queue{op = "mprotect", addr = qa + PAGE, len = PAGE, prot = "r"}
  words(ts[2], 2, 1, 3)
  ts[2]:queue{op = "read", addr = qa + 24}
  words(ts[3], 3, 1, 1)
  ts[3]:queue{op = "migrate", addr = qa}
  words(ts[3], 3, 2, 3)
  ts[3]:queue{op = "read", addr = qa + 8}
  ts[3]:queue{op = "sleep"}
  local steps = qm:run()
  local log = {}
  for _, e in ipairs(qm:event_list()) do
    log[#log + 1] = table.concat({e.step, e.clock, e.cpu, e.kind, e.tid, e.va, e.arg}, ",")
  end
  return table.concat(log, "\n"), steps, ts, qm
end
local log1, steps1, ts, qm = queued_run(11)
local log2, steps2 = queued_run(11)
local log3 = queued_run(12)
print("steps", steps1, steps2, "same seed, same events", log1 == log2, "another seed, another run", log1 ~= log3)
for i, t in ipairs(ts) do
  print("thread " .. t.tid .. " on cpu " .. t.cpu .. ", pending " .. t:pending() .. ":")
  for _, r in ipairs(t:results()) do
    print(string.format("  #%d %-8s %s rc %d%s%s", r.n, r.op, r.addr and hex(r.addr) or "-", r.rc,
      r.err and " " .. r.err or "", r.value and " value " .. r.value or ""))
  end
end
qm:events{kind = "ipi"}
print("violations", qm:violations())
local st = qm:cpu_stats(1)
print("cpu 1: steps", st.smp.steps, "ipis", st.smp.ipis_received, "flushed", st.smp.flush_pages, "reads",
  st.cpu.reads, "tlb misses", st.tlb.l1d_misses_4k, "migrations", qm:stats().kernel.migrations)

-- A broken protocol is caught: with skip-cpu, CPU 2 never hears of the
-- munmap, and its queued read goes through its stale entry to a freed frame.
local bm = ptelab.machine{ram = "16M", cpus = 3, shootdown = "skip-cpu", sched_seed = 3}
local bp = bm:spawn()
local ba = assert(bp:mmap{len = PAGE})
assert(bp:write(ba, "old data"))
local bt = {assert(bp:thread{cpu = 1}), assert(bp:thread{cpu = 2})}
for _, t in ipairs(bt) do assert(t:read(ba, 8)) end
print("munmap with skip-cpu", bp:munmap(ba, PAGE))
bt[2]:queue{op = "read", addr = ba}
print("run", bm:run(), "cpu 2 read", string.pack("<i8", bt[2]:results()[1].value))
print("violations", bm:violations(), "stale events", #bm:event_list{kind = "STALE"},
  "counted", bm:stats().kernel.stale_violations)

-- step and run{steps}: one at a time, then nothing to do.
local q = qm:spawn()
local qt = assert(q:thread{cpu = 2})
local qa = assert(q:mmap{len = PAGE})
for i = 1, 3 do print("queue", qt:queue{op = "write", addr = qa + 8 * i, value = i}) end
print("run 2 steps", qm:run{steps = 2}, "pending", qt:pending(), "step", qm:step(), "step", qm:step(),
  "pending", qt:pending())
print("read what the thread wrote", (string.unpack("<i8", q:read(qa + 24, 8))))

-- Queue errors: argument errors raise, the kernel's refusals return.
print("unaligned", qt:queue{op = "read", addr = qa + 4})
print("munmap len 0", qt:queue{op = "munmap", addr = qa, len = 0})
print("no records for refused operations", #qt:results())
print("bad op", pcall(qt.queue, qt, {op = "jump", addr = qa}))
print("needs addr", pcall(qt.queue, qt, {op = "read"}))
print("takes no value", pcall(qt.queue, qt, {op = "read", addr = qa, value = 1}))
print("needs prot", pcall(qt.queue, qt, {op = "mprotect", addr = qa, len = PAGE}))
print("bad run", all(pcall(qm.run, qm, {steps = -1})), all(pcall(qm.run, qm, {step = 1})))

-- A fault of a queued access runs the Lua handler; the scheduler cannot
-- run from inside it.
q:on_segv(function(info)
  print("  handler:", info.code, hex(info.addr), "nested run:", pcall(qm.run, qm))
  return "abandon"
end)
qt:queue{op = "read", addr = 0x10000}
print("run with a fault", qm:run{})
local r = qt:results()[4]
print("  result", r.op, hex(r.addr), r.rc, r.err)

-- ---- lifetimes ----
print("exit a thread", t1:exit(), "again", all(t1:exit()), "alive", t1:alive(), t1)
print("calls of an ended thread", all(t1:read(a, 1)), all(t1:queue{op = "sleep"}), all(t1:sleep()))
print("the main thread ends with its process", all(main:exit()))
print("process exit", p:exit(), "main alive", main:alive(), "t3 alive", t3:alive(), all(main:read(a, 1)))
print("after exit", all(p:main_thread()), all(p:thread{cpu = 1}), main, main.proc == p)

-- A thread handle keeps its machine; closing the machine ends its use.
local kept
do
  local km = ptelab.machine{ram = "4M", cpus = 2}
  kept = assert(km:spawn():thread{cpu = 1})
  kept:queue{op = "sleep"}
  km:run()
end
collectgarbage()
collectgarbage()
print("thread outlives its machine variable", kept:alive(), #kept:results())
qm:close()
print("closed", ts[2], pcall(ts[2].read, ts[2], 0, 1))
print("results survive the close", #ts[2]:results(), pcall(ts[2].alive, ts[2]))
print("views of one cpu", one:events{}, one:violations(), one:cpu_stats(0).smp.steps)
print("cpu_stats range", pcall(one.cpu_stats, one, 1))
m:check()
print("ok")

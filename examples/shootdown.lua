-- TLB shootdown: unmapping a page on one CPU must reach the TLBs of the others.
--
-- Every CPU caches translations in its own TLB, and no hardware keeps those
-- caches coherent with the page tables. So when the kernel removes a
-- mapping it (1) changes the entry, (2) flushes its own TLB, (3) sends an
-- inter-processor interrupt (IPI) to every other CPU that may cache the
-- address space's translations (the address space's CPU mask), (4) waits
-- until each has flushed and acknowledged, and only then (5) frees the
-- frame. Skip the wait and another CPU can still read a frame that is
-- already free, and soon someone else's.
local hex = ptelab.hex
local PAGE = ptelab.PAGE_SIZE

local m = ptelab.machine{ram = "16M", cpus = 4}
local p = m:spawn()
local main = p:main_thread() -- the process's own calls run on CPU 0
local a = assert(main:mmap{len = PAGE})
assert(main:write(a, "secret"))

-- Threads of the same process on CPUs 1, 2 and 3 read the page: now every
-- CPU's TLB holds the translation.
local threads = {}
for cpu = 1, 3 do
  threads[cpu] = assert(p:thread{cpu = cpu})
  assert(threads[cpu]:read(a, 6))
end

-- What each CPU's TLB holds for `a` in the address space it has loaded:
-- what its next access would use.
local function show_tlbs(title)
  print(title)
  for cpu = 0, 3 do
    local e, pid = m:tlb{cpu = cpu, addr = a}
    print(string.format("  cpu %d (pid %d loaded): %s", cpu, pid,
      e and hex(a) .. " -> frame " .. hex(e.frame) or "no translation"))
  end
end
show_tlbs("TLBs after the reads:")

-- CPU 3 switches to another process (pid 5: pids and tids share one
-- numbering), and so leaves p's CPU mask. Its TLB keeps p's entries under
-- p's PCID, unusable until p runs there again; then the CPU sees that it
-- missed a shootdown, and flushes them.
local q = m:spawn()
assert(assert(q:thread{cpu = 3}):mmap{len = PAGE})

-- The main thread unmaps the page; the event log shows the protocol. Each
-- CPU has its own cycle clock: while CPU 0 waits, CPUs 1 and 2 run on
-- until the IPI reaches them.
local function narrate(e)
  local say = {
    pte = ("changes %d entry: the page is no longer mapped"):format(e.arg),
    flush = "flushes the page from its own TLB (INVLPG)",
    ["ipi-send"] = ("sends an IPI to cpu %d"):format(e.arg),
    ipi = ("takes the IPI, flushes %d page and acknowledges"):format(e.arg),
    acked = ("has every acknowledgement, after waiting %d cycles"):format(e.arg),
    release = ("frees %d frames: the page and its emptied page tables"):format(e.arg),
  }
  print(string.format("  clock %5d  cpu %d %s", e.clock, e.cpu, say[e.kind] or e.kind))
end
local before = #m:event_list()
assert(main:munmap(a, PAGE))
print("munmap on cpu 0:")
local targets = {}
for i, e in ipairs(m:event_list()) do
  if i > before then narrate(e) end
  if i > before and e.kind == "ipi-send" then targets[#targets + 1] = e.arg end
end
print("IPIs to cpu " .. table.concat(targets, ", ") .. " only: cpu 3 runs pid " .. q.pid ..
  " now, out of p's mask")

show_tlbs("TLBs after munmap:")
local k = m:stats().kernel
print(string.format("IPIs sent %d, rounds %d, cycles waited %d, stale accesses %d", k.ipis_sent, k.shootdowns,
  k.wait_cycles, k.stale_violations))
m:check()

-- The same with a broken protocol that does not wait for the
-- acknowledgements: the frame is freed while CPU 1 still translates to it,
-- and CPU 1's next read goes through its stale TLB entry before the IPI
-- arrives. The detector compares every access with the page tables.
print()
print("shootdown = \"no-wait\":")
local bad = ptelab.machine{ram = "16M", cpus = 2, shootdown = "no-wait"}
local bp = bad:spawn()
local b = assert(bp:mmap{len = PAGE})
assert(bp:write(b, "secret"))
local t1 = assert(bp:thread{cpu = 1})
assert(t1:read(b, 6))
assert(bp:munmap(b, PAGE))
print("cpu 1 reads the unmapped page:", t1:read(b, 6))
bad:violations()

-- mmap, munmap, mprotect: results, errno returns, and the regions they leave.
local hex = ptelab.hex
local PAGE = ptelab.PAGE_SIZE
local m = ptelab.machine{ram = "16M"}
local p = m:spawn()

local function regions()
  for _, r in ipairs(p:regions()) do
    print(string.format("  %s-%s %s %s%s offset %d", hex(r.start), hex(r["end"]), r.prot,
      r.shared and "shared" or "private", r.object and " object" or "", r.offset))
  end
end

-- Successful mappings: anywhere, at a hint, fixed, rounded up to pages.
local a = assert(p:mmap{len = 2 * PAGE, prot = "rw"})
local h = assert(p:mmap{len = 100, prot = "r", addr = 0x200000000})
local fx = assert(p:mmap{len = "8K", prot = "rwx", addr = 0x300000000, fixed = true})
local sh = assert(p:mmap{len = PAGE, prot = "r-x", shared = true})
print("anywhere", hex(a), "hint", hex(h), "fixed", hex(fx), "shared", hex(sh))
regions()

-- errno returns: nil, name, number.
print("len 0", p:mmap{len = 0})
print("unknown prot bits", p:mmap{len = PAGE, prot = 8})
print("fixed, unaligned", p:mmap{len = PAGE, addr = 0x300000001, fixed = true})
print("fixed, below the floor", p:mmap{len = PAGE, addr = 0x1000, fixed = true})
print("fixed, kernel half", p:mmap{len = PAGE, addr = m:direct_map_base(), fixed = true})
print("fixed, past the user half", p:mmap{len = 2 * PAGE, addr = m:user_top() - PAGE, fixed = true})
print("larger than the user half", p:mmap{len = m:user_top() + PAGE})
print("munmap unaligned", p:munmap(a + 1, PAGE))
print("munmap len 0", p:munmap(a, 0))
print("munmap kernel half", p:munmap(m:direct_map_base(), PAGE))
print("mprotect unaligned", p:mprotect(a + 1, PAGE, "r"))
print("mprotect unknown bits", p:mprotect(a, PAGE, 16))
print("mprotect unmapped", p:mprotect(0x400000000, PAGE, "r"))
print("mprotect len 0", p:mprotect(0x400000000, 0, "r"))
print("errno names", ptelab.errno_name(22), ptelab.errno_name(-12), ptelab.errno_name(9999))

-- A fixed mapping over part of another replaces that part.
assert(p:write(a, "first page"))
assert(p:write(a + PAGE, "second page"))
local over = assert(p:mmap{len = PAGE, prot = "r", addr = a + PAGE, fixed = true})
print("fixed over the second page", hex(over), "reads zero:", p:read(a + PAGE, 6) == string.rep("\0", 6))
print("first page kept:", p:read(a, 10))
regions()

-- mprotect splits and merges; munmap makes holes.
print("mprotect", p:mprotect(a, PAGE, "r"))
regions()
print("mprotect back", p:mprotect(a, PAGE, "rw"), p:mprotect(a + PAGE, PAGE, "rw"))
regions()
print("munmap middle of fixed", p:munmap(fx + PAGE, PAGE))
print("munmap nothing mapped", p:munmap(0x500000000, PAGE))
regions()

-- Reading a removed page: with a handler we see the signal.
p:on_segv(function(info) print("  signal", info.code, info.kind, hex(info.addr)) return "abandon" end)
print("read after munmap", p:read(fx + PAGE, 1))
print("write to r-x", p:write(sh, "x"))
print("fetch from rw", p:fetch(a))
print("fetch from r-x", p:fetch(sh))
print("prot none", p:mprotect(a, PAGE, "none"), p:read(a, 1))
print("prot none keeps the data", p:mprotect(a, PAGE, "r"), p:read(a, 10))
print("stats", p:stats().signals, m:stats().kernel.syscalls)
m:check()
print("ok")

-- Loads and stores: strings, integers of each width, fetches, page
-- crossings, and the results of accesses that fault.
local hex = ptelab.hex
local PAGE = ptelab.PAGE_SIZE
local m = ptelab.machine{ram = "16M"}
local p = m:spawn()
local a = assert(p:mmap{len = 3 * PAGE, prot = "rwx"})

-- A string across a page boundary: two zero-fill faults.
local text = "crossing the boundary"
print("write", p:write(a + PAGE - 8, text))
print("read", p:read(a + PAGE - 8, #text))
print("faults", p:stats().faults, "zero-fill", p:stats().zero_fill)
print("empty read", #p:read(a, 0), "empty write", p:write(a, ""))
local bin = "\0\1\2\255\0"
print("binary", p:write(a + 16, bin), p:read(a + 16, 5) == bin)

-- Integers, little-endian.
print("u64", p:write_u64(a, 0x1122334455667788), hex(p:read_u64(a)))
print("bytes", string.format("%02x %02x %02x", p:read_u8(a), p:read_u8(a + 1), p:read_u8(a + 7)))
print("u16", p:read_u16(a), "u32", hex(p:read_u32(a)))
print("u8 -1 wraps", p:write_u8(a, -1), p:read_u8(a))
print("u16 max", p:write_u16(a, 0xffff), p:read_u16(a))
print("u32", p:write_u32(a, 0xdeadbeef), hex(p:read_u32(a)))
print("u64 all ones", p:write_u64(a, -1), p:read_u64(a))
print("u8 too big", pcall(p.write_u8, p, a, 256))
print("fetch", p:write_u8(a + 2 * PAGE, 0xc3), p:fetch(a + 2 * PAGE))

-- Without a handler, a faulting access kills the process: nil, "killed".
local q = m:spawn()
local qa = assert(q:mmap{len = PAGE, prot = "r"})
print("read-only read", q:read_u32(qa))
print("write to read-only", q:write(qa, "x"))
print("state", q:state())
local info = q:kill_info()
print("killed by", info.code, info.kind, hex(info.addr), string.format("0x%x", info.error_code))
print("then", q:read(qa, 1))

-- A non-canonical address is a #GP, not a #PF.
local r = m:spawn()
print("non-canonical", r:read(0x0000800000000000, 1))
print("killed by", r:kill_info().code, r:kill_info().error_code)

-- Fetch: XD pages fault; a handler sees "fetch" and error code with I/D.
local s = m:spawn()
local sa = assert(s:mmap{len = PAGE, prot = "rw"})
s:on_segv(function(i) print(" ", i.code, i.kind, string.format("0x%x", i.error_code)) return "abandon" end)
print("fetch, not yet mapped", s:fetch(sa))
print("touch", s:write(sa, "\144"))
print("fetch, mapped XD", s:fetch(sa))
print("mprotect rx", s:mprotect(sa, PAGE, "rx"), s:fetch(sa))
print("cpu", m:stats().cpu.fetches > 0, "gp", m:stats().cpu.gp_faults)
m:check()
print("ok")

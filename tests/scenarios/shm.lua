-- Shared-memory objects: sizes, mappings with offsets, private views,
-- release, and their errors.
local hex = ptelab.hex
local PAGE = ptelab.PAGE_SIZE
local m = ptelab.machine{ram = "16M"}

local function all(...)
  local t = table.pack(...)
  for i = 1, t.n do t[i] = tostring(t[i]) end
  return table.concat(t, " ")
end

local obj = assert(m:shm(3 * PAGE - 100))
print(obj, obj:size(), obj:released())
print("size 0", all(m:shm(0)))
print("too large", all(m:shm("1T")))
print(pcall(m.shm, m, -1))

local A, B = m:spawn(), m:spawn()
-- A maps all of it; B maps its last page only (offset 2 pages).
local a = assert(A:mmap{len = 3 * PAGE, shm = obj})
local b = assert(B:mmap{len = PAGE, prot = "r", shm = obj, offset = 2 * PAGE})
assert(A:write(a + 2 * PAGE, "third page"))
print("B sees", B:read(b, 10))
for _, r in ipairs(B:regions()) do print("B region", hex(r.start), hex(r["end"]), r.prot, r.shared, r.object, r.offset) end

-- Offsets and lengths are checked against the object.
print("unaligned offset", all(B:mmap{len = PAGE, shm = obj, offset = 100}))
print("past the end", all(B:mmap{len = 2 * PAGE, shm = obj, offset = 2 * PAGE}))
print("offset beyond", all(B:mmap{len = PAGE, shm = obj, offset = 4 * PAGE}))

-- A private view: reads see the object, a write takes a private copy.
local v = assert(B:mmap{len = PAGE, prot = "rw", shm = obj, shared = false, offset = 2 * PAGE})
print("private view reads", B:read(v, 10))
assert(B:write(v, "B's copy!!"))
print("after B's write: view", B:read(v, 10), "| object via A", A:read(a + 2 * PAGE, 10))
print("B: shared pages", B:stats().shared_page, "copies", B:stats().cow_copy)

-- Fork keeps shared mappings shared.
local C = assert(A:fork())
assert(C:write(a, "from C"))
print("A sees C's write", A:read(a, 6))

-- Release: the creator's reference goes; the mappings keep the object.
obj:release()
obj:release()
print(obj, obj:released())
print("A still reads", A:read(a + 2 * PAGE, 10))
print(pcall(A.mmap, A, {len = PAGE, shm = obj}))

-- An object of another machine is refused.
local other = ptelab.machine{ram = "4M"}
local foreign = assert(other:shm(PAGE))
print(pcall(A.mmap, A, {len = PAGE, shm = foreign}))
print(pcall(A.mmap, A, {len = PAGE, shm = "not an object"}))

-- When the last mapping goes, so do the object's frames.
for _, p in ipairs({A, B, C}) do p:exit(0) end
local f = m:stats().frames
print("frames used beyond the kernel's", f.used - f.kernel)
-- Closing a machine releases the objects its handles still hold.
other:close()
print(foreign)
m:check()
print("ok")

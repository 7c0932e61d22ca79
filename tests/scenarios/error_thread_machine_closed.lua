-- A thread handle outlives its machine, but cannot be used once it is closed.
local m = ptelab.machine{ram = "16M", cpus = 2}
local t = assert(m:spawn():thread{cpu = 1})
m:close()
t:read(0x10000, 1)

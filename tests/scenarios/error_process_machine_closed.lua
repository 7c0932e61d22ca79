-- A process handle outlives its machine's close, but cannot be used.
local m = ptelab.machine{ram = "4M"}
local p = m:spawn()
m:close()
print(p)
p:read(0x10000, 1)

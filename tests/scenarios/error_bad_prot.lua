local p = ptelab.machine{ram = "4M"}:spawn()
local a = assert(p:mmap{len = 4096})
p:mprotect(a, 4096, "rwz")

local m = ptelab.machine{ram = "4M"}
local obj = m:shm(4096)
obj:release()
m:spawn():mmap{len = 4096, shm = obj}

-- Queued operations are named.
local m = ptelab.machine{ram = "16M", cpus = 2}
local t = m:spawn():main_thread()
t:queue{op = "jump", addr = 0x10000}

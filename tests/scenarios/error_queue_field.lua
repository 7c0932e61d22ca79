-- A field the operation does not take is an error, not ignored.
local m = ptelab.machine{ram = "16M", cpus = 2}
local t = m:spawn():main_thread()
t:queue{op = "read", addr = 0x10000, len = 8}

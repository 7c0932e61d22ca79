-- The scheduler cannot run inside a signal handler of its machine: the
-- error comes back from the access that faulted.
local m = ptelab.machine{ram = "16M", cpus = 2}
local p = m:spawn()
p:on_segv(function() m:run() end)
p:read(0x10000, 1)

-- A thread goes on one of the machine's CPUs.
local m = ptelab.machine{ram = "16M", cpus = 2}
m:spawn():thread{cpu = 2}

-- The scheduler seed is a non-negative integer.
ptelab.machine{ram = "16M", cpus = 2, sched_seed = -1}

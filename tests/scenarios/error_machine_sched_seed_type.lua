-- The scheduler seed is an integer.
ptelab.machine{ram = "16M", cpus = 2, sched_seed = "7"}

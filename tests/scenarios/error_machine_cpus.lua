-- More CPUs than a machine can have (1..64).
ptelab.machine{ram = "16M", cpus = 65}

-- A protocol is named, not numbered.
ptelab.machine{ram = "16M", cpus = 2, shootdown = 2}

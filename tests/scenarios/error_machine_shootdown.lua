-- An unknown shootdown protocol.
ptelab.machine{ram = "16M", cpus = 2, shootdown = "lazy"}

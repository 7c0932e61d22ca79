-- cpus is an integer, not a string.
ptelab.machine{ram = "16M", cpus = "4"}

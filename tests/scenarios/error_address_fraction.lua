local p = ptelab.machine{ram = "4M"}:spawn()
p:read(4096.5, 1)

local p = ptelab.machine{ram = "4M"}:spawn()
p:mmap{prot = "rw"}

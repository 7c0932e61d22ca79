local p = ptelab.machine{ram = "4M"}:spawn()
p:munmap(0x10000, -4096)

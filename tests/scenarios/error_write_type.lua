local p = ptelab.machine{ram = "4M"}:spawn()
p:write(0x10000, {})

local m = ptelab.machine{ram = "4M"}
m:close()
m:spawn()

local m = ptelab.machine{ram = "4M"}
local p = m:spawn()
p.read(m, 0, 1)

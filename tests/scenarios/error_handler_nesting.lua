-- A handler whose own access faults again and again.
local p = ptelab.machine{ram = "4M"}:spawn()
p:on_segv(function(info, q)
  q:read(info.addr, 1)
  return "abandon"
end)
p:read(0x10000, 1)

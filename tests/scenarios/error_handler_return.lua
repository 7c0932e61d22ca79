local p = ptelab.machine{ram = "4M"}:spawn()
p:on_segv(function(info)
  if info.kind == "read" then return "ignore" end
end)
p:read(0x10000, 1)

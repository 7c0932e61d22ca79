local m = ptelab.machine{ram = "4M"}
local p = m:spawn()
p:on_segv(function()
  m:close()
  return "abandon"
end)
p:read(0x10000, 1)

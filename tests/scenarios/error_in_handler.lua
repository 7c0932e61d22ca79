-- An error in a signal handler ends the script with the handler's line.
local p = ptelab.machine{ram = "4M"}:spawn()
p:on_segv(function(info)
  error(string.format("unexpected %s at 0x%x", info.code, info.addr))
end)
p:read(0x10000, 1)

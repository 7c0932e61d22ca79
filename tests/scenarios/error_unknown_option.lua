-- A misspelt option is an error, not silently ignored.
local p = ptelab.machine{ram = "4M"}:spawn()
p:mmap{len = 4096, lenght = 8192}

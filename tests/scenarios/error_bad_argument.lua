-- A bad argument is a Lua error naming the script's file and line.
local m = ptelab.machine{ram = "4M"}
local p = m:spawn()
print("before the error")
p:mmap("4096")
print("never printed")

-- m:check() returns true while the invariants hold; errors name the line.
local m = ptelab.machine{ram = "4M"}
print(m:check())
m:close()
m:check()

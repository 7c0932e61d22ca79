-- Machine options are checked one by one.
local m = ptelab.machine{
  ram = "16M",
  levels = 3,
}

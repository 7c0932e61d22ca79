-- Finalizers run arbitrary Lua code whenever the collector runs, in the
-- middle of any call that allocates (converting a number argument to a
-- string, building a result table); here they close the machine under the
-- script's feet. Every call must then fail cleanly ("closed") or succeed;
-- nothing may crash (the sanitizer build checks the memory).
collectgarbage("generational", 1, 100) -- a minor collection every few allocations
local PAGE = ptelab.PAGE_SIZE
local outcomes = {ok = 0, closed = 0}

local function try(f, ...)
  local ok, err = pcall(f, ...)
  if ok then
    outcomes.ok = outcomes.ok + 1
  elseif tostring(err):find("closed", 1, true) then
    outcomes.closed = outcomes.closed + 1
  else
    error(err, 0)
  end
end

for round = 1, 30 do
  local m = ptelab.machine{ram = "4M", history_limit = 64}
  local p = m:spawn()
  local a = assert(p:mmap{len = 4 * PAGE})
  for i = 0, 3 do p:write(a + i * PAGE, "x") end
  p:on_segv(function() return "abandon" end)
  -- Garbage whose finalizer closes the machine at some later collection.
  setmetatable({}, {__gc = function() pcall(m.close, m) end})
  for i = 1, 40 do
    try(p.write, p, a, i * 1000003 + round) -- the number becomes a string
    try(p.mappings, p)
    try(p.regions, p)
    try(p.read, p, a, 3 * PAGE)
    try(p.mmap, p, {len = PAGE})
    try(m.procs, m)
    try(m.writes, m, {})
    try(m.shm, m, PAGE)
    try(m.frame, m, 0x100000)
    try(m.config, m)
    try(m.stats, m)
    try(p.stats, p)
    try(p.read, p, 0x10000, 1)
    try(p.fork, p)
    try(p.kill_info, p)
  end
end
collectgarbage()
print("every call succeeded or found its machine closed:", outcomes.ok > 0, outcomes.closed > 0)

-- wrk script for bench/tracking.py: each thread walks its own share of a file of paths.
-- Usage: wrk ... -s bench/tracking_paths.lua http://host:port -- PATHS_FILE THREADS
local threads_made = 0
local paths = {}
local next_index = 1
local step = 1

function setup(thread)
  thread:set("thread_number", threads_made)
  threads_made = threads_made + 1
end

function init(args)
  local file = assert(io.open(args[1], "r"))
  for line in file:lines() do
    paths[#paths + 1] = line
  end
  file:close()
  step = tonumber(args[2])
  next_index = thread_number + 1
end

function request()
  local path = paths[next_index]
  next_index = next_index + step
  if next_index > #paths then
    next_index = ((next_index - 1) % #paths) + 1
  end
  return wrk.format("GET", path)
end

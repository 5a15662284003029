-- wrk script for `cargo xtask bench http`: `GET /v1/organizations` with bearer tokens of several users,
-- rotating over a file of session tokens, one per line.
--
--   wrk ... -s xtask/bench/organizations.lua http://ADDR/v1/organizations -- TOKENS_FILE
--
-- Requests are formatted once, in `init`, so that the load generator spends its time sending them.

local function read_lines(path)
  local file = assert(io.open(path, "r"))
  local lines = {}
  for line in file:lines() do
    if line ~= "" then
      lines[#lines + 1] = line
    end
  end
  file:close()
  return lines
end

local threads = 0

function setup(thread)
  thread:set("thread_number", threads)
  threads = threads + 1
end

local requests = {}
local next_request = 0

function init(args)
  for _, token in ipairs(read_lines(args[1])) do
    requests[#requests + 1] = wrk.format("GET", wrk.path, { ["Authorization"] = "Bearer " .. token })
  end
  assert(#requests > 0, "no session tokens")
  -- Each thread starts at its own place in the rotation rather than all sending the same token at once.
  next_request = ((thread_number or 0) * 7) % #requests
end

function request()
  next_request = next_request % #requests + 1
  return requests[next_request]
end

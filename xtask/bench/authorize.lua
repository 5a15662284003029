-- wrk script for `cargo xtask bench http`: `POST /v1/authorize` with the service token,
-- rotating over prepared JSON bodies, one per line (half are allowed, half denied).
--
--   wrk ... -s xtask/bench/authorize.lua http://ADDR/v1/authorize -- SERVICE_TOKEN_FILE BODIES_FILE
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
  local token = assert(read_lines(args[1])[1], "the service token file is empty")
  local headers = {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json",
  }
  for _, body in ipairs(read_lines(args[2])) do
    requests[#requests + 1] = wrk.format("POST", wrk.path, headers, body)
  end
  assert(#requests > 0, "no request bodies")
  -- Each thread starts at its own place in the rotation rather than all sending the same body at once.
  next_request = ((thread_number or 0) * 7919) % #requests
end

function request()
  next_request = next_request % #requests + 1
  return requests[next_request]
end

-- wrk script for `cargo xtask bench http`: `POST .../agents` as the organization's owner, each request a new agent.
--
--   wrk ... -s xtask/bench/create_agent.lua http://ADDR/v1/organizations/ORG/agents -- TOKEN_FILE
--
-- The organization is on a plan without an agent limit, so every request creates one (201).

local function read_first_line(path)
  local file = assert(io.open(path, "r"))
  local line = file:read("*l")
  file:close()
  assert(line and line ~= "", "no token in " .. path)
  return line
end

local headers = {}

function init(args)
  headers["Authorization"] = "Bearer " .. read_first_line(args[1])
  headers["Content-Type"] = "application/json"
end

local counter = 0

function request()
  counter = counter + 1
  return wrk.format("POST", wrk.path, headers, '{"name":"Load agent ' .. counter .. '"}')
end

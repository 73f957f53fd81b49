-- wrk script for the hot-path benchmark (bench/hotpath.sh): POST /mcp `tools/call echo`, timed
-- per request by wrk itself (no coordinated-omission correction), printed as one JSON line.
--
-- Environment:
--   MCP_MODE      legacy (Mcp-Session-Id) | modern (2026-07-28 `_meta`, the user's child) |
--                 sessionless (legacy without a session, the user's child) | floor (no headers)
--   MCP_TOKENS    comma-separated bearer tokens (one per user); requests rotate through them
--   MCP_SESSIONS  comma-separated session ids (legacy); requests rotate through them, and the
--                 i-th session belongs to the token at the same index (or to the only token)

local function list(name)
  local values = {}
  for value in string.gmatch(os.getenv(name) or "", "[^,]+") do values[#values + 1] = value end
  return values
end

local mode = os.getenv("MCP_MODE") or "legacy"
local tokens = list("MCP_TOKENS")
local sessions = list("MCP_SESSIONS")
local next_index = 0

local call = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}'
local modern_call = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"},'
  .. '"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},'
  .. '"io.modelcontextprotocol/clientInfo":{"name":"wrk","version":"1"}}}}'

local function headers_for(index)
  local headers = {
    ["Content-Type"] = "application/json",
    ["Accept"] = "application/json, text/event-stream",
  }
  if mode == "floor" then return headers end
  local count = math.max(#tokens, #sessions)
  local slot = index % math.max(count, 1) + 1
  headers["Authorization"] = "Bearer " .. (tokens[slot] or tokens[1])
  if mode == "legacy" then
    headers["Mcp-Session-Id"] = sessions[slot] or sessions[1]
    headers["MCP-Protocol-Version"] = "2025-11-25"
  elseif mode == "sessionless" then
    headers["MCP-Protocol-Version"] = "2025-11-25"
  elseif mode == "modern" then
    headers["MCP-Protocol-Version"] = "2026-07-28"
    headers["Mcp-Method"] = "tools/call"
    headers["Mcp-Name"] = "echo"
  end
  return headers
end

-- Requests are prepared once per slot: the generator's own cost stays out of the figures.
local prepared = {}

function init(args)
  local count = math.max(#tokens, #sessions, 1)
  local body = mode == "modern" and modern_call or call
  if count == 1 then
    -- One request for every call: wrk's static mode sends it without entering Lua per request
    -- (wrk builds it from these fields after `init`, and skips Lua when `request` is nil).
    wrk.method, wrk.path, wrk.body = "POST", "/mcp", body
    for name, value in pairs(headers_for(0)) do wrk.headers[name] = value end
    request = nil
    return
  end
  for index = 0, count - 1 do
    prepared[index + 1] = wrk.format("POST", "/mcp", headers_for(index), body)
  end
end

function request()
  next_index = next_index % #prepared + 1
  return prepared[next_index]
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,'
      .. '"non_2xx":%d,"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, errors.status, errors.connect, errors.read, errors.write, errors.timeout))
end

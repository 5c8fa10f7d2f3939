-- Fresh USSD sessions walking the demo menu: "", "1", "1*1". As on a phone, a session's next hop comes
-- only after its previous screen was answered: each thread opens WAVE sessions (their first hops), then
-- sends their second hops, then their third, then the next WAVE sessions; many connections share a
-- thread's counter, so hops of one session sent back to back could otherwise race on two connections.
dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")

local steps = {"", "1", "1*1"}
local WAVE = 2000

function request()
  local wave = math.floor(n / (3 * WAVE))
  local step = math.floor(n / WAVE) % 3
  local session = wave * WAVE + n % WAVE
  local text = steps[step + 1]
  n = n + 1
  local body = string.format(
    "sessionId=ATUid_bench_%d_%d&serviceCode=%%2A384%%2A123%%23&phoneNumber=%%2B254711%06d&networkCode=63902&text=%s",
    id, session, session % 1000000, text:gsub("%*", "%%2A"))
  return wrk.format("POST", "/api/ussd/session?token=" .. token,
    {["Content-Type"] = "application/x-www-form-urlencoded"}, body)
end

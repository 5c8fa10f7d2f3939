-- Fresh USSD sessions walking the demo menu: "", "1", "1*1", then the next session.
dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")

local steps = {"", "1", "1*1"}

function request()
  local session = math.floor(n / 3)
  local text = steps[(n % 3) + 1]
  n = n + 1
  local body = string.format(
    "sessionId=ATUid_bench_%d_%d&serviceCode=%%2A384%%2A123%%23&phoneNumber=%%2B254711%06d&networkCode=63902&text=%s",
    id, session, session % 1000000, text:gsub("%*", "%%2A"))
  return wrk.format("POST", "/api/ussd/session?token=" .. token,
    {["Content-Type"] = "application/x-www-form-urlencoded"}, body)
end

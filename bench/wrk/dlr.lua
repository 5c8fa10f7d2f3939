-- Distinct delivery reports for messages the benchmark created (ATXid_bench_<thread>_<n>).
dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")

function request()
  n = n + 1
  local body = string.format(
    "id=ATXid_bench_%d_%d&status=Success&phoneNumber=%%2B254711%06d&networkCode=63902&retryCount=0",
    id, n, n % 1000000)
  return wrk.format("POST", "/api/sms/delivery-reports?token=" .. token,
    {["Content-Type"] = "application/x-www-form-urlencoded"}, body)
end

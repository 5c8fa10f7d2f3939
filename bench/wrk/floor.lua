-- The floor: the same delivery report, stored by one autocommitted INSERT and nothing else.
dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")

function request()
  n = n + 1
  local body = string.format("id=ATXid_bench_%d_%d&status=Success&phoneNumber=%%2B254711000000&networkCode=63902", id, n)
  return wrk.format("POST", "/bench/floor", {["Content-Type"] = "application/x-www-form-urlencoded"}, body)
end

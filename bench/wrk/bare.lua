-- The baseline: a bare Django view answering "OK" to the same kind of POST.
dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")

function request()
  return wrk.format("POST", "/bench/ok", {["Content-Type"] = "application/x-www-form-urlencoded"}, "id=x&status=Success")
end

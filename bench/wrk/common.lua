-- Shared by the wrk scripts: one id per wrk thread, so that generated AT ids never collide.
local counter = 1
local threads = {}

function setup(thread)
  thread:set("id", counter)
  table.insert(threads, thread)
  counter = counter + 1
end

function init(args)
  n = 0
  token = args[1] or ""
end

function done(summary, latency, requests)
  local failed = summary.errors.status + summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout
  io.write(string.format("RESULT requests=%d ok=%d failed=%d\n", summary.requests, summary.requests - failed, failed))
  for _, p in pairs({50, 99}) do
    io.write(string.format("RESULT p%d_ms=%.3f\n", p, latency:percentile(p) / 1000))
  end
end

-- Paced load (BENCH_PACED=1): each connection pauses a random 0-1000 ms before each request.
if os.getenv("BENCH_PACED") == "1" then
  function delay()
    return math.random(0, 1000)
  end
end

-- wrk script for bench/serving.py: each request is the next line of the file named by the
-- SERVING_PATHS environment variable (a URL path with its query string), round robin; at the end
-- one JSON line with the counts and the latency percentiles in microseconds.
local paths = {}
for line in io.lines(os.getenv("SERVING_PATHS")) do paths[#paths + 1] = line end
local counter = 0

request = function()
  counter = counter + 1
  return wrk.format("GET", paths[(counter - 1) % #paths + 1])
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "errors": %d, "non2xx": %d, "p50": %d, "p90": %d, "p99": %d, "mean": %.1f, "max": %d}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean, latency.max))
end

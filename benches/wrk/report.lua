-- Shared by every scenario of scripts/bench: numbers the threads and, when the run is
-- over, prints one machine-readable line with throughput and latency percentiles
-- (wrk's own histogram, microseconds).
--
-- Scripts that time their own work (steps.lua) leave `answered`, `t_first` and `t_last`
-- in each thread; throughput is then answers over that span rather than over wrk's run.

local threads = {}

function setup(thread)
   table.insert(threads, thread)
   thread:set("id", #threads)
end

function done(summary, latency, requests)
   local e = summary.errors
   local count, secs = summary.requests, summary.duration / 1e6
   local first, last, answered = nil, nil, 0
   for _, t in ipairs(threads) do
      local f, l = t:get("t_first"), t:get("t_last")
      if f and l then
         first = math.min(first or f, f)
         last = math.max(last or l, l)
         answered = answered + t:get("answered")
      end
   end
   if first then
      count, secs = answered, last - first
   end
   io.write(string.format(
      "RESULT requests=%d seconds=%.3f rps=%.1f p50_us=%d p99_us=%d p999_us=%d max_us=%d " ..
      "err_connect=%d err_read=%d err_write=%d err_status=%d err_timeout=%d\n",
      count, secs, count / secs,
      latency:percentile(50), latency:percentile(99), latency:percentile(99.9), latency.max,
      e.connect, e.read, e.write, e.status, e.timeout))
end

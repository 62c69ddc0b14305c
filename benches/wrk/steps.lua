-- One step of the order flow, over the orders the step before made: every order is used
-- exactly once, split between wrk's threads.
--
-- wrk ... -s benches/wrk/steps.lua <url> -- <step> <threads> <count> <ids file> <done dir>
--   start     POST /v1/orders (the customer starts an order; the embedded processor
--             announces it): <count> orders; their ids go to <ids file>.<thread>
--   submit    PUT /v1/orders/{id}/drink          (ids from <ids file>)
--   claim     POST /v1/orders/{id}/claim
--   complete  POST /v1/orders/{id}/complete
--
-- wrk runs for its whole -d duration whatever the script does, so a thread that has all its
-- answers parks its connections (a long `delay`) and drops a file in <done dir>; scripts/bench
-- then stops wrk with SIGINT. Throughput is answers / (last answer - first request), timed
-- here with the monotonic clock, not wrk's run time; latencies are wrk's own histogram.

dofile("benches/wrk/report.lua")

local ffi = require("ffi")
ffi.cdef [[
   typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
   int clock_gettime(int clock, bench_timespec *t);
]]
local ts = ffi.new("bench_timespec")
local function now()
   ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
   return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) / 1e9
end

local step, ids, quota, sent, out, done_file = nil, {}, 0, 0, nil, nil
local drink = '{"drink":"Latte","modifiers":["Oat"]}'
local json_headers = nil
-- Read back by report.lua's done().
answered, t_first, t_last = 0, nil, nil

function init(args)
   step = args[1]
   local nthreads, count, ids_file = tonumber(args[2]), tonumber(args[3]), args[4]
   done_file = args[5] .. "/done." .. id
   if step == "start" then
      quota = math.floor(count / nthreads)
      if id <= count % nthreads then quota = quota + 1 end
      out = io.open(ids_file .. "." .. id, "w")
   else
      local n = 0
      for line in io.lines(ids_file) do
         if n % nthreads == id - 1 then table.insert(ids, line) end
         n = n + 1
      end
      quota = #ids
   end
end

-- wrk asks delay() before each request() of the run (and calls request() once before the
-- run, in the first thread, to check the script: that one is not counted). Several
-- connections may ask delay() before any of them sends, so delay() hands out the quota.
local running, reserved = false, 0

function delay()
   if not running then
      running, t_first = true, now()
   end
   if reserved >= quota then return 3600 * 1000 end
   reserved = reserved + 1
   return 0
end

function request()
   if not running or sent >= quota then
      -- The check before the run (or a reconnect, which skips delay()): nothing to spend.
      return wrk.format("GET", "/healthz")
   end
   sent = sent + 1
   if step == "start" then
      return wrk.format("POST", "/v1/orders")
   end
   local order = ids[sent]
   if step == "submit" then
      if not json_headers then
         -- wrk.format takes these instead of wrk.headers (the -H ones): copy them.
         json_headers = { ["content-type"] = "application/json" }
         for k, v in pairs(wrk.headers) do json_headers[k] = v end
      end
      return wrk.format("PUT", "/v1/orders/" .. order .. "/drink", json_headers, drink)
   end
   return wrk.format("POST", "/v1/orders/" .. order .. "/" .. step)
end

function response(status, headers, body)
   answered = answered + 1
   t_last = now()
   if out then
      local order = body:match('"order_id":"([^"]+)"')
      if order then out:write(order, "\n") end
   end
   if answered == quota then -- once
      if out then out:close() end
      io.open(done_file, "w"):close()
   end
end

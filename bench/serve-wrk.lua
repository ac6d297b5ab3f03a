-- wrk script for bench/serve-vs-nginx.ts.
--
-- * Connects to MTASTS_BENCH_CONNECT (default 127.0.0.1) instead of resolving the URL's host name,
--   so the URL can carry a real policy host name (wrk sends it as TLS SNI) without /etc/hosts
--   entries or DNS: wrk.resolve is the hook wrk calls with the URL's host before starting.
-- * Rotates the Host header over mta-sts.d<i>.bench.test for i in [0, MTASTS_BENCH_HOSTS), starting
--   at MTASTS_BENCH_OFFSET so that parallel wrk processes do not walk the hosts in lockstep.
--   Extra headers given with -H (e.g. "Connection: close") are kept.
-- * Prints one machine-readable line at the end: "MTASTS_BENCH_JSON {...}".
local connect_to = os.getenv("MTASTS_BENCH_CONNECT") or "127.0.0.1"
local nhosts = tonumber(os.getenv("MTASTS_BENCH_HOSTS") or "1000")
local offset = tonumber(os.getenv("MTASTS_BENCH_OFFSET") or "0")
local path = "/.well-known/mta-sts.txt"

function wrk.resolve(host, service)
  local addrs = wrk.lookup(connect_to, service)
  for i = #addrs, 1, -1 do
    if not wrk.connect(addrs[i]) then table.remove(addrs, i) end
  end
  wrk.addrs = addrs
end

local requests = {}
local n = 0

function init(args)
  -- Pre-built requests (building one per call would cost the client more than the servers).
  for i = 0, nhosts - 1 do
    local h = (i + offset) % nhosts
    -- wrk.format uses either the given headers or wrk.headers (-H), not both: merge them.
    local headers = {}
    for k, v in pairs(wrk.headers) do headers[k] = v end
    headers["Host"] = "mta-sts.d" .. h .. ".bench.test"
    requests[i + 1] = wrk.format("GET", path, headers)
  end
end

function request()
  n = n + 1
  if n > nhosts then n = 1 end
  return requests[n]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'MTASTS_BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"lat_p50_us":%d,"lat_p99_us":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end

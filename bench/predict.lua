-- wrk script for POST /api/predict/ (bench/wrk_predict.py): cycles through request bodies, one JSON body a line,
-- from the file in PREDICT_BODIES; sends the drawer cookie in PREDICT_COOKIE as the page would; counts non-201s.

local bodies = {}
local threads = {}
local next_body = 1
local errors = 0

function setup(thread)
  table.insert(threads, thread)
  thread:set("id", #threads)
end

function init(args)
  for line in io.lines(os.getenv("PREDICT_BODIES")) do
    if #line > 0 then table.insert(bodies, line) end
  end
  wrk.method = "POST"
  wrk.path = "/api/predict/"
  wrk.headers["Content-Type"] = "application/json"
  local cookie = os.getenv("PREDICT_COOKIE") or ""
  if #cookie > 0 then wrk.headers["Cookie"] = cookie end
  next_body = (tonumber(id or 0) or 0) % #bodies + 1 -- threads start at different drawings
end

function request()
  local body = bodies[next_body]
  next_body = next_body % #bodies + 1
  return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
  if status ~= 201 then errors = errors + 1 end
end

function done(summary, latency, requests)
  local failed = 0
  for _, thread in ipairs(threads) do failed = failed + (thread:get("errors") or 0) end
  -- One line the Python side parses: requests, non-201 answers, socket errors, latency percentiles in µs.
  io.write(string.format(
    "WRK_RESULT %d %d %d %d %d %d %d\n",
    summary.requests, failed,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), summary.duration
  ))
end

-- wrk script: POSTs OpenLineage START events, each of a run of its own
-- (a new runId per request, so none is a duplicate of another), with one
-- input and one output dataset: each becomes 6 lineage events.
-- Each thread's number, set as the global `worker` of its own Lua state
-- (a local here would shadow it there).
local threads_started = 0

function setup(thread)
  thread:set("worker", threads_started)
  threads_started = threads_started + 1
end

function init(args)
  counter = 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  counter = counter + 1
  local run = string.format("00000000-0000-7000-8000-%04d%08d", worker, counter)
  local body = string.format([[{"eventType":"START","eventTime":"2026-03-01T10:00:00Z",
"producer":"wrk","schemaURL":"https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
"run":{"runId":"%s"},"job":{"namespace":"bench","name":"job_%d"},
"inputs":[{"namespace":"postgres://db:5432","name":"public.t_%d","facets":{"version":{"datasetVersion":"%d"}}}],
"outputs":[{"namespace":"bench","name":"out_%d","facets":{"schema":{"fields":[{"name":"a","type":"int"}]}}}]}]],
    run, counter % 50, counter % 20, counter % 7, counter)
  return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
  if status ~= 201 then
    io.stderr:write("unexpected status " .. status .. ": " .. body .. "\n")
  end
end

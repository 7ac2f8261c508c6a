-- Argo CD health check for wallaroo.inferops.dev/InferenceJob (see README.md next to this file).
--
-- Argo CD runs this with `obj` bound to the live object and takes the returned {status, message}.
-- Plain Lua 5.1, as Argo CD's interpreter (gopher-lua) runs it: base, string and table only.
--
-- In this order:
--   1. no status yet, or status.observedGeneration (or the Ready condition's) behind
--      metadata.generation: the operator has not acted on the current spec, so the rest of the
--      status describes an older spec                                       -> Progressing
--   2. phase Suspended (a scheduled job with spec.suspend: true)            -> Suspended
--   3. phase Running or Pending (a run in progress, or one waiting for its
--      Secret, ConfigMap or WallarooConnection to appear, or for a retry)   -> Progressing
--   4. Ready=True (the last run succeeded, or a schedule awaits its slot)   -> Healthy
--      Ready=False (the last run failed, or the spec or schedule is invalid) -> Degraded, with
--                                                                              Ready's message
--      Ready=Unknown, or no Ready condition (no conditions at all)          -> Progressing
-- A WallarooConnection has no phase and one Ready condition (can it log in?), so the same script
-- also serves as its check.

local hs = {}

local function readyCondition(status)
  if status.conditions == nil then
    return nil
  end
  for _, condition in ipairs(status.conditions) do
    if condition.type == "Ready" then
      return condition
    end
  end
  return nil
end

local function nonEmpty(value)
  return value ~= nil and value ~= ""
end

if obj.status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to report status"
  return hs
end

local generation = nil
if obj.metadata ~= nil then
  generation = obj.metadata.generation
end
local ready = readyCondition(obj.status)

if generation ~= nil then
  local observed = obj.status.observedGeneration
  local stale = observed == nil or observed < generation
  if ready ~= nil and ready.observedGeneration ~= nil and ready.observedGeneration < generation then
    stale = true
  end
  if stale then
    hs.status = "Progressing"
    hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
    return hs
  end
end

local phase = obj.status.phase

if phase == "Suspended" then
  hs.status = "Suspended"
  hs.message = "The schedule is suspended"
  return hs
end

if phase == "Running" or phase == "Pending" then
  hs.status = "Progressing"
  hs.message = "Waiting for the first run to start"
  local ids = {}
  local waiting = nil
  if obj.status.active ~= nil then
    for _, run in ipairs(obj.status.active) do
      table.insert(ids, tostring(run.id))
      if waiting == nil and run.state == "Pending" and nonEmpty(run.error) then
        waiting = run
      end
    end
  end
  if waiting ~= nil then
    hs.message = "Run " .. tostring(waiting.id) .. " is waiting: "
    if nonEmpty(waiting.reason) then
      hs.message = hs.message .. waiting.reason .. ": "
    end
    hs.message = hs.message .. waiting.error
  elseif #ids > 0 then
    hs.message = "Run in progress: " .. table.concat(ids, ", ")
  end
  return hs
end

if ready == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the Ready condition"
  return hs
end

if ready.status == "True" then
  hs.status = "Healthy"
elseif ready.status == "False" then
  hs.status = "Degraded"
else
  hs.status = "Progressing"
end

if nonEmpty(ready.reason) and nonEmpty(ready.message) then
  hs.message = ready.reason .. ": " .. ready.message
elseif nonEmpty(ready.message) then
  hs.message = ready.message
elseif nonEmpty(ready.reason) then
  hs.message = ready.reason
else
  hs.message = "Ready is " .. tostring(ready.status)
end
return hs

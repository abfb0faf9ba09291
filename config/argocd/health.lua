-- Argo CD health check for the oauth.clientcreds.dev kinds: OAuthClient,
-- ClusterOAuthProvider and OAuthProvider. All three report kstatus-style
-- conditions: Ready is always present once the controller has looked at the
-- object; Stalled and Reconciling are present only while true.
--
--   status behind metadata.generation  -> Progressing (the spec was not seen yet)
--   Stalled=True                       -> Degraded (a human has to act)
--   Ready=True                         -> Healthy
--   anything else                      -> Progressing, with the Ready message
--
-- Argo CD runs custom health checks with only the base, table and os
-- libraries open, so this script uses nothing else (no string library).

local hs = {}

-- A generation as a number, whether the API gave a number or a string.
local function gen(v)
  if v == nil then
    return nil
  end
  return tonumber(v)
end

local generation = nil
if obj.metadata ~= nil then
  generation = gen(obj.metadata.generation)
end

-- current reports whether a status or condition describes the latest spec.
-- A missing observedGeneration is not held against it.
local function current(observed)
  observed = gen(observed)
  return generation == nil or observed == nil or observed >= generation
end

local function find(conditions, kind)
  for _, c in ipairs(conditions) do
    if c.type == kind then
      return c
    end
  end
  return nil
end

-- describe is what Argo CD shows next to the status: the condition's message,
-- else its reason.
local function describe(c)
  if c.message ~= nil and c.message ~= "" then
    return c.message
  end
  if c.reason ~= nil and c.reason ~= "" then
    return c.reason
  end
  return ""
end

local status = obj.status
if status == nil or status.conditions == nil or #status.conditions == 0 then
  if status ~= nil and not current(status.observedGeneration) then
    hs.status = "Progressing"
    hs.message = "Waiting for the controller to observe generation " .. generation
    return hs
  end
  hs.status = "Progressing"
  hs.message = "Waiting for the controller to report status"
  return hs
end

if not current(status.observedGeneration) then
  hs.status = "Progressing"
  hs.message = "Waiting for the controller to observe generation " .. generation
  return hs
end

local stalled = find(status.conditions, "Stalled")
if stalled ~= nil and stalled.status == "True" and current(stalled.observedGeneration) then
  hs.status = "Degraded"
  hs.message = describe(stalled)
  return hs
end

local ready = find(status.conditions, "Ready")
if ready == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the Ready condition"
  return hs
end

if not current(ready.observedGeneration) then
  hs.status = "Progressing"
  hs.message = "Waiting for the controller to observe generation " .. generation
  return hs
end

if ready.status == "True" then
  hs.status = "Healthy"
else
  hs.status = "Progressing"
end
hs.message = describe(ready)
return hs

-- POST /v1/events: an OrderProcessor.WorkflowStarted envelope for a new order on every
-- request (new envelope id, order id and task token), as the EventBridge API destination
-- sends it. Every request is a durable write of a new order.
--
-- wrk ... -s benches/wrk/ingest.lua <url> -- <run prefix>

dofile("benches/wrk/report.lua")

local counter = 0
local prefix = "ing"
-- Real Step Functions task tokens are several hundred characters long.
local padding = string.rep("A", 600)

local template = '{"version":"0","id":"env-%s","detail-type":"OrderProcessor.WorkflowStarted",' ..
   '"source":"awsserverlessda.serverlesspresso","account":"123456789012",' ..
   '"time":"2026-11-24T09:15:02Z","region":"us-east-1","resources":[' ..
   '"arn:aws:states:us-east-1:123456789012:stateMachine:OrderProcessorWorkflow",' ..
   '"arn:aws:states:us-east-1:123456789012:execution:OrderProcessorWorkflow:%s"],' ..
   '"detail":{"Message":"The workflow waits for your order to be submitted.",' ..
   '"TaskToken":"AQCU%s%s","orderId":"%s","userId":"ingest-user-%d","eventId":"default"}}'

function init(args)
   if args[1] then prefix = args[1] end
   prefix = prefix .. "-t" .. id
end

function request()
   counter = counter + 1
   local order = string.format("%s-%09d", prefix, counter)
   local body = string.format(template, order, order, order, padding, order, counter % 5000)
   return wrk.format("POST", "/v1/events", nil, body)
end

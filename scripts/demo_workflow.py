#!/usr/bin/env python3
"""A stand-in OrderProcessor on moto, for the walk-through in docs/testing.md.

It runs a real Step Functions execution (on moto) with the OrderProcessor's two
waitForTaskToken waits, and prints the events the real workflow would put on EventBridge,
as an API destination would deliver them, so they can be posted to order-manager.

    setup                         create the queue and the state machine (idempotent)
    start ORDER_ID USER_ID [EVENT_ID]   start an execution; print its WorkflowStarted event
    waiting ORDER_ID USER_ID [EVENT_ID] wait for the second wait; print WaitingCompletion
    status ORDER_ID               print the execution's status and output

Needs AWS_ENDPOINT_URL pointing at moto (scripts/moto), and boto3 (in .venv).
"""
import json
import os
import sys
import time
import urllib.request
import uuid

import boto3

ENDPOINT = os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")
REGION = os.environ.get("AWS_REGION", "us-east-1")
ACCOUNT = "123456789012"
QUEUE = "order-processor-demo-tokens"
MACHINE = "OrderProcessorDemo"


def client(name):
    return boto3.client(
        name,
        endpoint_url=ENDPOINT,
        region_name=REGION,
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
    )


def machine_arn():
    return f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{MACHINE}"


def definition(queue_url):
    def wait(step, extra):
        body = {"step": step, "TaskToken.$": "$$.Task.Token", "orderId.$": "$.orderId",
                "userId.$": "$.userId", "eventId.$": "$.eventId"}
        body.update(extra)
        return {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                "Parameters": {"QueueUrl": queue_url, "MessageBody": body}}
    one = wait("started", {})
    one.update({"ResultPath": "$.submitted", "Next": "AssignOrderNumber", "TimeoutSeconds": 300})
    two = wait("waiting", {"orderNumber.$": "$.orderNumber"})
    two.update({"ResultPath": "$.completed", "Next": "Done", "TimeoutSeconds": 900})
    return {
        "StartAt": "WaitForSubmission",
        "States": {
            "WaitForSubmission": one,
            "AssignOrderNumber": {"Type": "Pass", "Result": "42", "ResultPath": "$.orderNumber",
                                  "Next": "WaitForCompletion"},
            "WaitForCompletion": two,
            "Done": {"Type": "Succeed"},
        },
    }


def setup():
    req = urllib.request.Request(
        f"{ENDPOINT}/moto-api/config",
        data=json.dumps({"stepfunctions": {"execute_state_machine": True}}).encode(),
        headers={"content-type": "application/json"}, method="POST")
    urllib.request.urlopen(req).read()
    url = client("sqs").create_queue(QueueName=QUEUE)["QueueUrl"]
    sfn = client("stepfunctions")
    if not any(m["name"] == MACHINE for m in sfn.list_state_machines()["stateMachines"]):
        sfn.create_state_machine(name=MACHINE, definition=json.dumps(definition(url)),
                                 roleArn=f"arn:aws:iam::{ACCOUNT}:role/demo")
    print(f"ready: {machine_arn()}", file=sys.stderr)


def next_message(order_id, step, timeout=15):
    sqs = client("sqs")
    url = sqs.get_queue_url(QueueName=QUEUE)["QueueUrl"]
    deadline = time.time() + timeout
    while time.time() < deadline:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0,
                                  WaitTimeSeconds=1).get("Messages", [])
        for m in got:
            body = json.loads(m["Body"])
            if body.get("orderId") == order_id and body.get("step") == step:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
                return body
    sys.exit(f"no '{step}' message for {order_id} within {timeout}s")


def envelope(detail_type, detail, order_id):
    execution = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:{MACHINE}:{order_id}"
    return {
        "version": "0", "id": str(uuid.uuid4()), "detail-type": detail_type,
        "source": "awsserverlessda.serverlesspresso", "account": ACCOUNT,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "region": REGION,
        "resources": [machine_arn(), execution], "detail": detail,
    }


def start(order_id, user_id, event_id="default"):
    client("stepfunctions").start_execution(
        stateMachineArn=machine_arn(), name=order_id,
        input=json.dumps({"orderId": order_id, "userId": user_id, "eventId": event_id}))
    msg = next_message(order_id, "started")
    print(json.dumps(envelope("OrderProcessor.WorkflowStarted", {
        "Message": "The workflow waits for your order to be submitted.",
        "TaskToken": msg["TaskToken"], "orderId": order_id, "userId": user_id,
        "eventId": event_id}, order_id), indent=2))


def waiting(order_id, user_id, event_id="default"):
    msg = next_message(order_id, "waiting")
    print(json.dumps(envelope("OrderProcessor.WaitingCompletion", {
        "Message": "The workflow waits for the barista to complete the order.",
        "TaskToken": msg["TaskToken"], "orderId": order_id, "orderNumber": msg["orderNumber"],
        "userId": user_id, "eventId": event_id}, order_id), indent=2))


def status(order_id):
    arn = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:{MACHINE}:{order_id}"
    d = client("stepfunctions").describe_execution(executionArn=arn)
    print(json.dumps({"status": d["status"], "output": json.loads(d.get("output") or "null")}))


if __name__ == "__main__":
    commands = {"setup": setup, "start": start, "waiting": waiting, "status": status}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        sys.exit(__doc__)
    commands[sys.argv[1]](*sys.argv[2:])

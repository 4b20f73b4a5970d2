"""The CodePipeline API driven by boto3, unmodified, against `sluice serve`.

Arguments: ENDPOINT PIPELINE KEY_ID SECRET READ_KEY_ID READ_SECRET.
Prints one JSON object of what it saw; the Rust test checks it.
"""
import json
import sys
import time

import boto3
import botocore.exceptions
from botocore.config import Config

endpoint, pipeline, key, secret, read_key, read_secret = sys.argv[1:7]


def client(key_id, secret_key):
    return boto3.client(
        "codepipeline",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=key_id,
        aws_secret_access_key=secret_key,
        config=Config(retries={"max_attempts": 1}),
    )


def error_of(call):
    try:
        call()
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"]
    return None


cp = client(key, secret)
seen = {}
seen["pipelines"] = [p["name"] for p in cp.list_pipelines()["pipelines"]]
first = cp.start_pipeline_execution(name=pipeline, clientRequestToken="build-1")
again = cp.start_pipeline_execution(name=pipeline, clientRequestToken="build-1")
seen["same_execution"] = first["pipelineExecutionId"] == again["pipelineExecutionId"]
execution_id = first["pipelineExecutionId"]
deadline = time.time() + 60
while True:
    execution = cp.get_pipeline_execution(
        pipelineName=pipeline, pipelineExecutionId=execution_id
    )["pipelineExecution"]
    if execution["status"] not in ("InProgress", "Stopping") or time.time() > deadline:
        break
    time.sleep(0.2)
seen["status"] = execution["status"]
seen["revisions"] = [r["revisionId"] for r in execution.get("artifactRevisions", [])]
seen["trigger"] = execution["trigger"]["triggerType"]
second = cp.start_pipeline_execution(
    name=pipeline, variables=[{"name": "Who", "value": "boto3"}]
)["pipelineExecutionId"]
pages = cp.get_paginator("list_pipeline_executions").paginate(
    pipelineName=pipeline, PaginationConfig={"PageSize": 1}
)
seen["listed"] = [s["pipelineExecutionId"] for page in pages for s in page["pipelineExecutionSummaries"]]
seen["second"] = second
seen["first"] = execution_id
seen["stop_finished"] = error_of(
    lambda: cp.stop_pipeline_execution(pipelineName=pipeline, pipelineExecutionId=execution_id)
)
seen["missing_pipeline"] = error_of(lambda: cp.start_pipeline_execution(name="nope"))
seen["missing_execution"] = error_of(
    lambda: cp.get_pipeline_execution(pipelineName=pipeline, pipelineExecutionId="0000")
)
seen["unsupported"] = error_of(lambda: cp.get_pipeline_state(name=pipeline))
seen["bad_secret"] = error_of(lambda: client(key, "x" * 40).list_pipelines())
seen["unknown_key"] = error_of(lambda: client("AKIAUNKNOWNUNKNOWN00", secret).list_pipelines())
reader = client(read_key, read_secret)
seen["reader_lists"] = len(reader.list_pipelines()["pipelines"])
seen["reader_starts"] = error_of(lambda: reader.start_pipeline_execution(name=pipeline))
print(json.dumps(seen))

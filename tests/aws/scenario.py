"""The CodePipeline API driven by boto3, unmodified, against `sluice serve`.

Arguments: ENDPOINT PIPELINE KEY_ID SECRET READ_KEY_ID READ_SECRET GATES
(the folder the pipeline's gated action reads its gate files from).
Prints one JSON object of what it saw; the Rust test checks it.
"""
import json
import os
import sys
import time

import botocore.exceptions

import common

endpoint, pipeline, key, secret, read_key, read_secret, gates = sys.argv[1:8]


def client(key_id, secret_key):
    return common.client(endpoint, key_id, secret_key)


error_of = common.error_code


cp = client(key, secret)


def wait(execution_id, until=("InProgress", "Stopping")):
    deadline = time.time() + 60
    while True:
        status = cp.get_pipeline_execution(
            pipelineName=pipeline, pipelineExecutionId=execution_id
        )["pipelineExecution"]["status"]
        if status not in until or time.time() > deadline:
            return status
        time.sleep(0.2)


def gate(execution_id, verdict):
    with open(os.path.join(gates, execution_id), "w") as f:
        f.write(verdict)


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
seen["unknown_action_type"] = error_of(
    lambda: cp.poll_for_jobs(
        actionTypeId={"category": "Deploy", "owner": "Custom", "provider": "X", "version": "1"}
    )
)
seen["bad_secret"] = error_of(lambda: client(key, "x" * 40).list_pipelines())
seen["unknown_key"] = error_of(lambda: client("AKIAUNKNOWNUNKNOWN00", secret).list_pipelines())
reader = client(read_key, read_secret)
seen["reader_lists"] = len(reader.list_pipelines()["pipelines"])
seen["reader_starts"] = error_of(lambda: reader.start_pipeline_execution(name=pipeline))

# A stage that fails, retried once its gate passes.
gated = cp.start_pipeline_execution(
    name=pipeline, variables=[{"name": "Behave", "value": "gate"}]
)["pipelineExecutionId"]
gate(gated, "fail")
seen["before_retry"] = wait(gated)
gate(gated, "pass")
try:
    cp.retry_stage_execution(
        pipelineName=pipeline, stageName="Build", pipelineExecutionId=gated, retryMode="FAILED_ACTIONS"
    )
except botocore.exceptions.ClientError as e:
    raise SystemExit(
        f"retry refused: {e}; status before: {seen['before_retry']}; "
        f"state: {json.dumps(cp.get_pipeline_state(name=pipeline), default=str)}"
    )
seen["after_retry"] = wait(gated)
every = cp.list_action_executions(pipelineName=pipeline, filter={"pipelineExecutionId": gated})
seen["attempts"] = sorted((d["actionName"], d["status"]) for d in every["actionExecutionDetails"])
latest = cp.list_action_executions(
    pipelineName=pipeline, filter={"latestInPipelineExecution": {
        "pipelineExecutionId": gated, "startTimeRange": "Latest"}})
seen["latest_attempts"] = sorted((d["actionName"], d["status"]) for d in latest["actionExecutionDetails"])
seen["retry_succeeded"] = error_of(
    lambda: cp.retry_stage_execution(
        pipelineName=pipeline, stageName="Build", pipelineExecutionId=gated, retryMode="ALL_ACTIONS"
    )
)
seen["retry_mode"] = error_of(
    lambda: cp.retry_stage_execution(
        pipelineName=pipeline, stageName="Build", pipelineExecutionId=gated, retryMode="SOME"
    )
)

def building(execution_id):
    """Waits until execution_id's Build action runs; its state then."""
    deadline = time.time() + 60
    while time.time() < deadline:
        stage = next(s for s in cp.get_pipeline_state(name=pipeline)["stageStates"]
                     if s["stageName"] == "Build")
        run = stage["actionStates"][0].get("latestExecution", {})
        if stage.get("latestExecution", {}).get("pipelineExecutionId") == execution_id \
                and run.get("status") == "InProgress":
            return stage
        time.sleep(0.2)
    raise SystemExit(f"{execution_id} never reached Build")


def build_action_status():
    stage = next(s for s in cp.get_pipeline_state(name=pipeline)["stageStates"]
                 if s["stageName"] == "Build")
    return stage["actionStates"][0]["latestExecution"]["status"]


# Stop and wait: the running action finishes, then the execution stops.
waited = cp.start_pipeline_execution(
    name=pipeline, variables=[{"name": "Behave", "value": "gate"}]
)["pipelineExecutionId"]
building(waited)
cp.stop_pipeline_execution(pipelineName=pipeline, pipelineExecutionId=waited, reason="wait for it")
seen["stopping"] = cp.get_pipeline_execution(
    pipelineName=pipeline, pipelineExecutionId=waited)["pipelineExecution"]["status"]
gate(waited, "pass")
seen["stopped_after_wait"] = wait(waited)
seen["waited_action"] = build_action_status()
# Stop and abandon: the running action is abandoned at once.
abandoned = cp.start_pipeline_execution(
    name=pipeline, variables=[{"name": "Behave", "value": "gate"}]
)["pipelineExecutionId"]
building(abandoned)
cp.stop_pipeline_execution(
    pipelineName=pipeline, pipelineExecutionId=abandoned, abandon=True, reason="now")
seen["abandoned"] = wait(abandoned)
seen["abandoned_action"] = build_action_status()
seen["abandoned_summary"] = cp.get_pipeline_execution(
    pipelineName=pipeline, pipelineExecutionId=abandoned)["pipelineExecution"].get("statusSummary")

# Executions that succeeded in a stage, through the paginator.
pages = cp.get_paginator("list_pipeline_executions").paginate(
    pipelineName=pipeline, filter={"succeededInStage": {"stageName": "Build"}},
    PaginationConfig={"PageSize": 1})
built = [s["pipelineExecutionId"] for page in pages for s in page["pipelineExecutionSummaries"]]
seen["built"] = [execution_id in built, gated in built, abandoned in built, len(built)]
seen["filter_stage"] = error_of(lambda: cp.list_pipeline_executions(
    pipelineName=pipeline, filter={"succeededInStage": {"stageName": "Nope"}}))

# A disabled transition holds an execution in front of its stage.
cp.disable_stage_transition(
    pipelineName=pipeline, stageName="Build", transitionType="Inbound", reason="freeze"
)
held = cp.start_pipeline_execution(name=pipeline)["pipelineExecutionId"]
time.sleep(1.5)
seen["while_disabled"] = cp.get_pipeline_execution(
    pipelineName=pipeline, pipelineExecutionId=held
)["pipelineExecution"]["status"]
cp.enable_stage_transition(pipelineName=pipeline, stageName="Source", transitionType="Outbound")
seen["after_enabling"] = wait(held)
seen["missing_stage"] = error_of(
    lambda: cp.enable_stage_transition(
        pipelineName=pipeline, stageName="Nope", transitionType="Inbound"
    )
)
print(json.dumps(seen))

"""The CodePipeline API in both protocols boto3 speaks, against `sluice serve`.

botocore's model of CodePipeline lists only `json` (AWS JSON 1.1). A copy of
botocore's own installed model, with `smithy-rpc-v2-cbor` as its only
protocol, is put on a session's data path, so that session's client speaks
Smithy RPC v2 CBOR; a second session keeps the installed model and speaks
JSON 1.1. Both drive the same calls; a hook records what each request and
answer really was on the wire.

Arguments: ENDPOINT PIPELINE CBOR_KEY_ID CBOR_SECRET JSON_KEY_ID JSON_SECRET.
Prints one JSON object of what it saw, per protocol; the Rust test checks it.
"""
import datetime
import json
import os
import sys
import tempfile
import time

import boto3
import botocore.loaders
import botocore.serialize
import botocore.session
from botocore.config import Config

import common

endpoint, pipeline, cbor_key, cbor_secret, json_key, json_secret = sys.argv[1:7]
CBOR = "smithy-rpc-v2-cbor"
# An operation the copied model has and CodePipeline does not.
UNKNOWN = "SluiceNoSuchOperation"

if CBOR not in botocore.serialize.SERIALIZERS:
    sys.exit(f"botocore {botocore.__version__} cannot speak {CBOR}")


def cbor_model_path(root):
    """botocore's installed CodePipeline model, made to speak CBOR only, laid
    out under `root` as a data path wants it."""
    model = botocore.loaders.Loader().load_service_model("codepipeline", "service-2")
    model["metadata"]["protocol"] = CBOR
    model["metadata"]["protocols"] = [CBOR]
    model["operations"][UNKNOWN] = dict(
        model["operations"]["ListPipelines"], name=UNKNOWN
    )
    version = model["metadata"]["apiVersion"]
    folder = os.path.join(root, "codepipeline", version)
    os.makedirs(folder)
    with open(os.path.join(folder, "service-2.json"), "w") as f:
        json.dump(model, f)
    return root


def client(key_id, secret_key, data_path=None):
    session = botocore.session.get_session()
    if data_path:
        # Read when the session makes its loader, the first time it is asked.
        session.set_config_variable("data_path", data_path)
    return boto3.Session(botocore_session=session).client(
        "codepipeline",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=key_id,
        aws_secret_access_key=secret_key,
        config=Config(retries={"max_attempts": 1}),
    )


def header(headers, name):
    value = headers.get(name)
    return value.decode() if isinstance(value, bytes) else value


def wire(cp):
    """What each request and answer of `cp` was: path and headers."""
    seen = []

    def request(request, **kwargs):
        seen.append(
            {
                "path": request.url.split(endpoint, 1)[-1],
                "content_type": header(request.headers, "Content-Type"),
                "smithy_protocol": header(request.headers, "smithy-protocol"),
            }
        )

    def answer(http_response=None, **kwargs):
        if http_response is not None and seen:
            seen[-1]["status"] = http_response.status_code
            seen[-1]["answer_content_type"] = header(http_response.headers, "Content-Type")
            seen[-1]["answer_protocol"] = header(http_response.headers, "smithy-protocol")

    cp.meta.events.register("before-send.codepipeline", request)
    cp.meta.events.register("after-call.codepipeline", answer)
    return seen


error_of = common.error_code


def kind(value):
    return "datetime" if isinstance(value, datetime.datetime) else type(value).__name__


def drive(cp, bad):
    seen = {}
    listed = cp.list_pipelines()["pipelines"]
    seen["pipelines"] = [p["name"] for p in listed]
    seen["updated"] = kind(listed[0].get("updated"))
    execution_id = cp.start_pipeline_execution(name=pipeline)["pipelineExecutionId"]
    deadline = time.time() + 60
    while True:
        status = cp.get_pipeline_execution(
            pipelineName=pipeline, pipelineExecutionId=execution_id
        )["pipelineExecution"]["status"]
        if status not in ("InProgress", "Stopping") or time.time() > deadline:
            break
        time.sleep(0.2)
    seen["status"] = status
    summaries = cp.list_pipeline_executions(pipelineName=pipeline)[
        "pipelineExecutionSummaries"
    ]
    mine = next(s for s in summaries if s["pipelineExecutionId"] == execution_id)
    seen["listed"] = True
    seen["start_time"] = kind(mine["startTime"])
    seen["last_update_time"] = kind(mine["lastUpdateTime"])
    seen["ordered"] = mine["startTime"] <= mine["lastUpdateTime"]
    # Operations with no output in the model.
    cp.disable_stage_transition(
        pipelineName=pipeline, stageName="Build", transitionType="Inbound", reason="hold"
    )
    cp.enable_stage_transition(
        pipelineName=pipeline, stageName="Build", transitionType="Inbound"
    )
    seen["transitions"] = "ok"
    seen["missing_pipeline"] = error_of(lambda: cp.start_pipeline_execution(name="nope"))
    seen["bad_secret"] = error_of(lambda: bad.list_pipelines())
    return seen


seen = {}
with tempfile.TemporaryDirectory() as root:
    data_path = cbor_model_path(root)
    cbor = client(cbor_key, cbor_secret, data_path)
    cbor_bad = client(cbor_key, "x" * 40, data_path)
    seen["cbor_protocol"] = cbor.meta.service_model.resolved_protocol
    cbor_wire = wire(cbor)
    seen["cbor"] = drive(cbor, cbor_bad)
    seen["cbor"]["unknown_operation"] = error_of(
        lambda: getattr(cbor, "sluice_no_such_operation")()
    )
    seen["cbor_wire"] = cbor_wire

plain = client(json_key, json_secret)
seen["json_protocol"] = plain.meta.service_model.resolved_protocol
json_wire = wire(plain)
seen["json"] = drive(plain, client(json_key, "x" * 40))
seen["json_wire"] = json_wire
print(json.dumps(seen))

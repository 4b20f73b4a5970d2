"""A custom action served by a job worker written against boto3, unmodified:
its `codepipeline` client polls, acknowledges and puts results, its `s3`
client fetches the input zip and puts the output zip with the job's own
credentials, all against `sluice serve`.

Arguments: ENDPOINT ADMIN_KEY_ID ADMIN_SECRET WORKER_KEY_ID WORKER_SECRET
[OTHER_ENDPOINT]. With OTHER_ENDPOINT (another host on the same database),
a draft of the output is put through that host first, then the real one
through ENDPOINT: the action must take the last.
The state directory's aws-actions.yaml maps repository `app`.
Prints one JSON object of what it saw.
"""
import io
import json
import sys
import time
import zipfile

import common

endpoint, admin_key, admin_secret, key, secret = sys.argv[1:6]
other_endpoint = sys.argv[6] if len(sys.argv) > 6 else None
REGION = "us-east-1"


def client(service, key_id, secret_key, token=None):
    return common.client(endpoint, key_id, secret_key, service, token)


error_of = common.error_code


admin = client("codepipeline", admin_key, admin_secret)
cp = client("codepipeline", key, secret)
TYPE = {"category": "Deploy", "owner": "Custom", "provider": "Publisher", "version": "1"}
seen = {}

seen["unknown_type"] = error_of(lambda: cp.poll_for_jobs(actionTypeId=TYPE))
admin.create_custom_action_type(
    category="Deploy", provider="Publisher", version="1",
    configurationProperties=[{"name": "Target", "required": True, "key": True, "secret": False,
                              "queryable": True, "type": "String"}],
    inputArtifactDetails={"minimumCount": 1, "maximumCount": 1},
    outputArtifactDetails={"minimumCount": 1, "maximumCount": 1},
)


action = common.action


admin.create_pipeline(pipeline={
    "name": "publish",
    "roleArn": "arn:aws:iam::123456789012:role/x",
    "stages": [
        {"name": "Source", "actions": [action(
            "App", "Source", "AWS", "CodeCommit", {"RepositoryName": "app", "BranchName": "main"},
            outputs=["Code"])]},
        {"name": "Publish", "actions": [action(
            "Publish", "Deploy", "Custom", "Publisher", {"Target": "prod"},
            inputs=["Code"], outputs=["Published"])]},
        {"name": "After", "actions": [action(
            "Check", "Build", "Custom", "builtin:noop", inputs=["Published"])]},
    ],
})


def status(execution_id):
    return cp.get_pipeline_execution(pipelineName="publish", pipelineExecutionId=execution_id)[
        "pipelineExecution"]["status"]


def take(query=None, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline:
        jobs = cp.poll_for_jobs(actionTypeId=TYPE, maxBatchSize=1, queryParam=query or {"Target": "prod"})["jobs"]
        if jobs:
            return jobs[0]
        time.sleep(0.2)
    raise SystemExit("no job came")


def s3_of(job):
    creds = job["data"]["artifactCredentials"]
    return client("s3", creds["accessKeyId"], creds["secretAccessKey"], creds["sessionToken"])


first = cp.start_pipeline_execution(name="publish")["pipelineExecutionId"]
job = take()
seen["other_query"] = cp.poll_for_jobs(actionTypeId=TYPE, queryParam={"Target": "staging"})["jobs"]
seen["wrong_nonce"] = error_of(lambda: cp.acknowledge_job(jobId=job["id"], nonce="nope"))
seen["ack"] = cp.acknowledge_job(jobId=job["id"], nonce=job["nonce"])["status"]
data = job["data"]
seen["configuration"] = data["actionConfiguration"]["configuration"]
seen["context"] = [data["pipelineContext"]["pipelineName"], data["pipelineContext"]["stage"]["name"],
                   data["pipelineContext"]["action"]["name"], data["pipelineContext"]["pipelineExecutionId"] == first]
s3 = s3_of(job)
source = data["inputArtifacts"][0]["location"]["s3Location"]
body = s3.get_object(Bucket=source["bucketName"], Key=source["objectKey"])["Body"].read()
seen["input_files"] = sorted(zipfile.ZipFile(io.BytesIO(body)).namelist())
seen["input_revision"] = data["inputArtifacts"][0].get("revision")
# The job's credentials reach nothing but its own artifacts.
seen["other_key"] = error_of(lambda: s3.get_object(Bucket=source["bucketName"], Key="someone/in/Code.zip"))
seen["own_output_read"] = error_of(
    lambda: s3.get_object(Bucket=source["bucketName"],
                          Key=data["outputArtifacts"][0]["location"]["s3Location"]["objectKey"]))
seen["forged_token"] = error_of(lambda: client(
    "s3", data["artifactCredentials"]["accessKeyId"], data["artifactCredentials"]["secretAccessKey"],
    "forged").get_object(Bucket=source["bucketName"], Key=source["objectKey"]))
# A first step, continued: the next job carries the token.
cp.put_job_success_result(jobId=job["id"], continuationToken="step-2",
                          executionDetails={"summary": "half way", "percentComplete": 50})
seen["put_twice"] = error_of(lambda: cp.put_job_success_result(jobId=job["id"]))
job = take()
seen["continuation"] = job["data"].get("continuationToken")
cp.acknowledge_job(jobId=job["id"], nonce=job["nonce"])
details = cp.get_job_details(jobId=job["id"])["jobDetails"]
seen["details_same"] = details["data"]["continuationToken"] == "step-2"
out = io.BytesIO()
with zipfile.ZipFile(out, "w") as z:
    z.writestr("site/published.txt", "published " + first)
target = job["data"]["outputArtifacts"][0]["location"]["s3Location"]
if other_endpoint:
    creds = job["data"]["artifactCredentials"]
    draft = io.BytesIO()
    with zipfile.ZipFile(draft, "w") as z:
        z.writestr("site/draft.txt", "a draft, put first and then replaced")
    common.client(other_endpoint, creds["accessKeyId"], creds["secretAccessKey"], "s3",
                  creds["sessionToken"]).put_object(
        Bucket=target["bucketName"], Key=target["objectKey"], Body=draft.getvalue())
s3_of(job).put_object(Bucket=target["bucketName"], Key=target["objectKey"], Body=out.getvalue())
cp.put_job_success_result(jobId=job["id"], outputVariables={"Url": "https://example.test/" + first},
                          executionDetails={"summary": "published", "externalExecutionId": "run-1"})
deadline = time.time() + 60
while status(first) == "InProgress" and time.time() < deadline:
    time.sleep(0.2)
seen["first"] = status(first)
details = cp.list_action_executions(pipelineName="publish", filter={"pipelineExecutionId": first})
publish = next(d for d in details["actionExecutionDetails"] if d["actionName"] == "Publish")
seen["variables"] = publish["output"]["outputVariables"]
seen["summary"] = publish["output"]["executionResult"].get("externalExecutionSummary")
seen["first_id"] = first

# A worker's failure fails the action with its message.
second = cp.start_pipeline_execution(name="publish")["pipelineExecutionId"]
job = take()
cp.acknowledge_job(jobId=job["id"], nonce=job["nonce"])
cp.put_job_failure_result(jobId=job["id"], failureDetails={"type": "JobFailed", "message": "the target refused"})
deadline = time.time() + 60
while status(second) == "InProgress" and time.time() < deadline:
    time.sleep(0.2)
seen["second"] = status(second)
state = cp.get_pipeline_state(name="publish")
stage = next(s for s in state["stageStates"] if s["stageName"] == "Publish")
seen["error"] = stage["actionStates"][0]["latestExecution"].get("errorDetails", {}).get("message")
# A job whose action was abandoned is handed to no worker.
third = cp.start_pipeline_execution(name="publish")["pipelineExecutionId"]
deadline = time.time() + 60
while time.time() < deadline:
    stage = next(s for s in cp.get_pipeline_state(name="publish")["stageStates"] if s["stageName"] == "Publish")
    if stage.get("latestExecution", {}).get("pipelineExecutionId") == third:
        break
    time.sleep(0.2)
time.sleep(1)
cp.stop_pipeline_execution(pipelineName="publish", pipelineExecutionId=third, abandon=True, reason="no")
while status(third) in ("InProgress", "Stopping") and time.time() < deadline:
    time.sleep(0.2)
seen["third"] = status(third)
seen["abandoned_jobs"] = cp.poll_for_jobs(actionTypeId=TYPE, maxBatchSize=5)["jobs"]
seen["unknown_job"] = error_of(lambda: cp.acknowledge_job(jobId="00000000-0000-0000-0000-000000000000", nonce="x"))
print(json.dumps(seen))

"""Pipelines made, run and changed through the CodePipeline API by boto3,
unmodified, against `sluice serve`: a 4-stage pipeline created from a
CodePipeline declaration (a CodeCommit source the host maps to a git
repository, a Sluice built-in, a manual approval), read back unchanged,
watched in GetPipelineState, approved with the token it gives, an
execution superseded in front of the approval, tags, an update, refusals
naming the member, and deletion.

Arguments: ENDPOINT ADMIN_KEY_ID ADMIN_SECRET OPERATE_KEY_ID OPERATE_SECRET
OUT_FILE (where the created declaration is written, for the AWS CLI and
`sluice pipeline apply` to use). Prints one JSON object of what it saw.
"""
import copy
import json
import sys
import time

import common

endpoint, admin_key, admin_secret, key, secret, out_file = sys.argv[1:7]


def client(key_id, secret_key):
    return common.client(endpoint, key_id, secret_key)


error_of = common.error_of


admin = client(admin_key, admin_secret)
cp = client(key, secret)
NAME = "shipit"


action = common.action


declaration = {
    "name": NAME,
    "roleArn": "arn:aws:iam::123456789012:role/CodePipelineRole",
    "artifactStore": {"type": "S3", "location": "my-artifacts"},
    "stages": [
        {"name": "Source", "actions": [action(
            "App", "Source", "AWS", "CodeCommit",
            {"RepositoryName": "app", "BranchName": "main", "PollForSourceChanges": "false"},
            outputs=["SourceOut"], namespace="SourceVariables")]},
        {"name": "Build", "actions": [action(
            "Package", "Build", "Custom", "builtin:copy", inputs=["SourceOut"], outputs=["BuildOut"],
            timeoutInMinutes=20)]},
        {"name": "Approve", "actions": [action(
            "Release", "Approval", "AWS", "Manual",
            {"CustomData": "Release #{SourceVariables.CommitId}?",
             "NotificationArn": "arn:aws:sns:us-east-1:123456789012:releases"})]},
        {"name": "Deploy", "actions": [action(
            "Publish", "Build", "Custom", "builtin:noop", inputs=["BuildOut"])]},
    ],
    "executionMode": "SUPERSEDED",
    "pipelineType": "V2",
    "variables": [{"name": "Channel", "defaultValue": "stable", "description": "where it goes"}],
}

seen = {}
created = admin.create_pipeline(pipeline=declaration, tags=[{"key": "team", "value": "web"}])
seen["created_tags"] = created["tags"]
got = admin.get_pipeline(name=NAME)
with open(out_file, "w") as f:
    json.dump(got, f, default=str)
back = copy.deepcopy(got["pipeline"])
# What AWS itself owns is answered as the host's; the rest comes back as sent.
seen["role"] = back.pop("roleArn")
seen["store"] = back.pop("artifactStore")
seen["version"] = back.pop("version")
sent = copy.deepcopy(declaration)
del sent["roleArn"], sent["artifactStore"]
seen["same_declaration"] = back == sent
if back != sent:
    seen["declaration_back"] = back
seen["arn"] = got["metadata"]["pipelineArn"]
seen["name_in_use"] = error_of(lambda: admin.create_pipeline(pipeline=declaration))
seen["operator_creates"] = error_of(lambda: cp.create_pipeline(pipeline=declaration))


def state():
    return cp.get_pipeline_state(name=NAME)


def stage_state(name):
    return next(s for s in state()["stageStates"] if s["stageName"] == name)


def status(execution_id):
    return cp.get_pipeline_execution(pipelineName=NAME, pipelineExecutionId=execution_id)[
        "pipelineExecution"]["status"]


def until(what, check, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise SystemExit(f"timed out waiting for {what}; state: {json.dumps(state(), default=str)}")


def token_of(execution_id):
    stage = stage_state("Approve")
    latest = stage.get("latestExecution", {})
    run = stage["actionStates"][0].get("latestExecution", {})
    if latest.get("pipelineExecutionId") == execution_id and "token" in run:
        return run["token"]
    return None


first = cp.start_pipeline_execution(name=NAME)["pipelineExecutionId"]
token = until("the approval of the first execution", lambda: token_of(first))
approve_state = stage_state("Approve")
seen["approval_status"] = approve_state["actionStates"][0]["latestExecution"]["status"]
seen["build_state"] = stage_state("Build")["latestExecution"]["status"]
seen["transition_state"] = approve_state["inboundTransitionState"]["enabled"]

# A second execution waits in front of the approval; a third supersedes it.
second = cp.start_pipeline_execution(name=NAME)["pipelineExecutionId"]
until("the second execution waiting", lambda: stage_state("Approve").get("inboundExecution", {}).get(
    "pipelineExecutionId") == second)
third = cp.start_pipeline_execution(name=NAME)["pipelineExecutionId"]
seen["superseded"] = until("the second execution superseded", lambda: status(second) == "Superseded" and "Superseded")

seen["wrong_token"] = error_of(lambda: cp.put_approval_result(
    pipelineName=NAME, stageName="Approve", actionName="Release",
    result={"summary": "ok", "status": "Approved"}, token="00000000-0000-0000-0000-000000000000"))
approved = cp.put_approval_result(
    pipelineName=NAME, stageName="Approve", actionName="Release",
    result={"summary": "looks good", "status": "Approved"}, token=token)
seen["approved_at"] = "approvedAt" in approved
seen["token_used"] = error_of(lambda: cp.put_approval_result(
    pipelineName=NAME, stageName="Approve", actionName="Release",
    result={"summary": "again", "status": "Approved"}, token=token))
seen["first"] = until("the first execution to end", lambda: status(first) != "InProgress" and status(first))
third_token = until("the approval of the third execution", lambda: token_of(third))
seen["new_token"] = third_token != token
cp.put_approval_result(
    pipelineName=NAME, stageName="Approve", actionName="Release",
    result={"summary": "no", "status": "Rejected"}, token=third_token)
seen["third"] = until("the third execution to end", lambda: status(third) != "InProgress" and status(third))

details = cp.list_action_executions(pipelineName=NAME, filter={"pipelineExecutionId": first})
seen["actions_of_first"] = sorted(
    (d["stageName"], d["actionName"], d["status"]) for d in details["actionExecutionDetails"])
approval = next(d for d in details["actionExecutionDetails"] if d["actionName"] == "Release")
seen["approval_input"] = approval["input"]["actionTypeId"]
seen["approval_resolved"] = approval["input"]["resolvedConfiguration"].get("CustomData", "")
pages = cp.get_paginator("list_action_executions").paginate(
    pipelineName=NAME, PaginationConfig={"PageSize": 2})
seen["all_actions"] = sum(len(p["actionExecutionDetails"]) for p in pages)

# Stage conditions, rules, rollbacks, deployment targets: Sluice has none,
# and says so as AWS does.
seen["rule_types"] = cp.list_rule_types()["ruleTypes"]
seen["rule_executions"] = cp.list_rule_executions(pipelineName=NAME)["ruleExecutionDetails"]
seen["override"] = error_of(lambda: cp.override_stage_condition(
    pipelineName=NAME, stageName="Approve", pipelineExecutionId=first, conditionType="BEFORE_ENTRY"))
seen["rollback"] = error_of(lambda: cp.rollback_stage(
    pipelineName=NAME, stageName="Deploy", targetPipelineExecutionId=first))
seen["targets"] = cp.list_deploy_action_execution_targets(
    pipelineName=NAME, actionExecutionId=approval["actionExecutionId"])["targets"]
seen["no_targets"] = error_of(lambda: cp.list_deploy_action_execution_targets(
    pipelineName=NAME, actionExecutionId="00000000-0000-0000-0000-000000000000"))
commit = cp.get_pipeline_execution(pipelineName=NAME, pipelineExecutionId=first)[
    "pipelineExecution"]["artifactRevisions"][0]["revisionId"]
revision = cp.put_action_revision(
    pipelineName=NAME, stageName="Source", actionName="App",
    actionRevision={"revisionId": commit, "revisionChangeId": commit, "created": time.time()})
seen["same_revision"] = [revision["newRevision"], revision["pipelineExecutionId"] == third]
seen["revision_not_source"] = error_of(lambda: cp.put_action_revision(
    pipelineName=NAME, stageName="Build", actionName="Package",
    actionRevision={"revisionId": commit, "revisionChangeId": commit, "created": time.time()}))

# Tags.
arn = seen["arn"]
admin.tag_resource(resourceArn=arn, tags=[{"key": "tier", "value": "1"}, {"key": "team", "value": "api"}])
admin.untag_resource(resourceArn=arn, tagKeys=["tier"])
seen["tags"] = cp.list_tags_for_resource(resourceArn=arn)["tags"]
seen["reserved_tag"] = error_of(lambda: admin.tag_resource(resourceArn=arn, tags=[{"key": "aws:x", "value": "1"}]))
seen["missing_resource"] = error_of(lambda: cp.list_tags_for_resource(resourceArn=arn + "-nope"))

# An update makes a new version.
changed = copy.deepcopy(got["pipeline"])
changed["stages"][2]["actions"][0]["configuration"]["CustomData"] = "Ship it?"
updated = admin.update_pipeline(pipeline=changed)
seen["updated_version"] = updated["pipeline"]["version"]
seen["update_missing"] = error_of(lambda: admin.update_pipeline(pipeline=dict(changed, name="nope")))

# What Sluice cannot take is refused naming the member.
bad = copy.deepcopy(declaration)
bad["name"] = "bad"
bad["stages"][1]["actions"][0]["region"] = "eu-west-1"
seen["region"] = error_of(lambda: admin.create_pipeline(pipeline=bad))
bad = copy.deepcopy(declaration)
bad["name"] = "bad"
bad["stages"][3]["actions"][0] = action("Deploy", "Deploy", "AWS", "ElasticBeanstalk", {"ApplicationName": "a"},
                                        inputs=["BuildOut"])
seen["unmapped"] = error_of(lambda: admin.create_pipeline(pipeline=bad))
bad = copy.deepcopy(declaration)
bad["name"] = "bad"
bad["stages"][0]["actions"][0]["configuration"]["RepositoryName"] = "elsewhere"
seen["unmapped_repository"] = error_of(lambda: admin.create_pipeline(pipeline=bad))
bad = copy.deepcopy(declaration)
bad["name"] = "bad"
bad["stages"][1]["actions"][0]["inputArtifacts"] = [{"name": "Missing"}]
seen["bad_input"] = error_of(lambda: admin.create_pipeline(pipeline=bad))
seen["listed"] = sorted(p["name"] for p in cp.list_pipelines()["pipelines"])
print(json.dumps(seen))

"""Webhooks through the CodePipeline API with boto3, unmodified, against
`sluice serve`, and their URLs called as GitHub calls them: a pipeline
with a CodeCommit source (the host maps it to a git repository) gets a
webhook of each authentication kind filtering on `$.ref` equal to
`refs/heads/{BranchName}`; they are listed a page at a time and tagged;
a signed push to the branch starts an execution whose trigger is
`Webhook`, a push to another branch starts nothing, a wrong signature is
refused; deleting a webhook ends its URL.

Arguments: ENDPOINT ADMIN_KEY_ID ADMIN_SECRET. Prints one JSON object of
what it saw.
"""
import datetime
import hashlib
import hmac
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import common

endpoint, key, secret = sys.argv[1:4]
cp = common.client(endpoint, key, secret)
NAME = "hooked"
SECRET = "a-secret-for-this-webhook-only"


error_of = common.error_of


action = common.action


cp.create_pipeline(pipeline={
    "name": NAME,
    "roleArn": "arn:aws:iam::123456789012:role/CodePipelineRole",
    "artifactStore": {"type": "S3", "location": "my-artifacts"},
    "stages": [
        {"name": "Source", "actions": [action(
            "App", "Source", "AWS", "CodeCommit",
            {"RepositoryName": "app", "BranchName": "main", "PollForSourceChanges": "false"},
            outputs=["SourceOut"])]},
        {"name": "Build", "actions": [action(
            "Package", "Build", "Custom", "builtin:noop", inputs=["SourceOut"])]},
    ],
    "executionMode": "QUEUED",
    "pipelineType": "V2",
})

ON_BRANCH = [{"jsonPath": "$.ref", "matchEquals": "refs/heads/{BranchName}"}]


def webhook(name, authentication, config, filters=ON_BRANCH, pipeline=NAME, target="App"):
    return {
        "name": name,
        "targetPipeline": pipeline,
        "targetAction": target,
        "filters": filters,
        "authentication": authentication,
        "authenticationConfiguration": config,
    }


seen = {}
signed = cp.put_webhook(
    webhook=webhook("gh-signed", "GITHUB_HMAC", {"SecretToken": SECRET}),
    tags=[{"key": "team", "value": "web"}])["webhook"]
by_ip = cp.put_webhook(webhook=webhook("from-lab", "IP", {"AllowedIPRange": "127.0.0.0/8"}))["webhook"]
elsewhere = cp.put_webhook(webhook=webhook("from-elsewhere", "IP", {"AllowedIPRange": "10.9.0.0/16"}))["webhook"]
anyone = cp.put_webhook(webhook=webhook("anyone", "UNAUTHENTICATED", {}))["webhook"]
seen["answered_secret"] = signed["definition"]["authenticationConfiguration"]["SecretToken"]
seen["answered_filters"] = signed["definition"]["filters"]
seen["arn"] = signed["arn"]
seen["created_tags"] = signed["tags"]
seen["urls_on_endpoint"] = all(
    w["url"].startswith(endpoint + "/aws/webhooks/") for w in (signed, by_ip, anyone))
seen["urls_distinct"] = len({w["url"] for w in (signed, by_ip, anyone)}) == 3
# Put again under the same name: the same URL.
again = cp.put_webhook(webhook=webhook("gh-signed", "GITHUB_HMAC", {"SecretToken": SECRET}))["webhook"]
seen["same_url_when_put_again"] = again["url"] == signed["url"]

# Refusals, named as AWS names them.
seen["missing_pipeline"] = error_of(lambda: cp.put_webhook(
    webhook=webhook("x", "UNAUTHENTICATED", {}, pipeline="nope")))
seen["not_a_source"] = error_of(lambda: cp.put_webhook(
    webhook=webhook("x", "UNAUTHENTICATED", {}, target="Package")))
seen["no_secret"] = error_of(lambda: cp.put_webhook(webhook=webhook("x", "GITHUB_HMAC", {})))
seen["bad_range"] = error_of(lambda: cp.put_webhook(
    webhook=webhook("x", "IP", {"AllowedIPRange": "the lab"})))
seen["bad_path"] = error_of(lambda: cp.put_webhook(
    webhook=webhook("x", "UNAUTHENTICATED", {}, filters=[{"jsonPath": "$.[ref"}])))
seen["six_filters"] = error_of(lambda: cp.put_webhook(
    webhook=webhook("x", "UNAUTHENTICATED", {}, filters=[{"jsonPath": "$.ref"}] * 6)))


def listed():
    """Every webhook, one a page."""
    names, pages, token = [], 0, None
    while True:
        page = cp.list_webhooks(MaxResults=1, **({"NextToken": token} if token else {}))
        pages += 1
        names += [w["definition"]["name"] for w in page["webhooks"]]
        token = page.get("NextToken")
        if not token:
            return names, pages, {w["definition"]["name"]: w for w in cp.list_webhooks()["webhooks"]}


names, pages, _ = listed()
seen["listed"] = names
seen["pages"] = pages

# Tags on the webhook's ARN.
cp.tag_resource(resourceArn=signed["arn"], tags=[{"key": "stage", "value": "prod"}])
seen["tags"] = cp.list_tags_for_resource(resourceArn=signed["arn"])["tags"]


def deliver(url, body, headers):
    """POSTs `body` to `url`: the status and the JSON answer."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return [answer.status, json.loads(answer.read())]
    except urllib.error.HTTPError as e:
        return [e.code, json.loads(e.read())]


def push(branch):
    return json.dumps({
        "ref": f"refs/heads/{branch}",
        "after": "0" * 40,
        "repository": {"full_name": "acme/app"},
    }).encode()


def github(body, secret=SECRET, content_type="application/json"):
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": content_type,
        "X-GitHub-Event": "push",
        "X-Hub-Signature-256": f"sha256={signature}",
    }


def executions():
    return cp.list_pipeline_executions(pipelineName=NAME)["pipelineExecutionSummaries"]


def finished(execution_id, seconds=120):
    deadline = time.time() + seconds
    while True:
        got = cp.get_pipeline_execution(pipelineName=NAME, pipelineExecutionId=execution_id)
        if got["pipelineExecution"]["status"] != "InProgress" or time.time() > deadline:
            return got["pipelineExecution"]


# A signed push to the source's branch starts the pipeline.
status, answer = deliver(signed["url"], push("main"), github(push("main")))
seen["signed_push"] = [status, answer.get("started")]
if answer.get("started"):
    execution = finished(answer["pipelineExecutionId"])
    seen["status"] = execution["status"]
    seen["trigger"] = execution["trigger"]
seen["last_triggered"] = isinstance(
    listed()[2]["gh-signed"].get("lastTriggered"), datetime.datetime)

# A push to another branch starts nothing, and says why.
before = len(executions())
status, answer = deliver(signed["url"], push("dev"), github(push("dev")))
seen["other_branch"] = [status, answer.get("started"), answer.get("message")]
seen["started_by_other_branch"] = len(executions()) - before

# Signatures that do not hold, or none, are refused.
status, answer = deliver(signed["url"], push("main"), github(push("main"), secret="guess"))
seen["wrong_secret"] = [status, answer["error"]["message"]]
status, answer = deliver(signed["url"], push("main"), {"Content-Type": "application/json"})
seen["unsigned"] = [status, answer["error"]["message"]]
tampered = github(push("main"))
status, answer = deliver(signed["url"], push("release"), tampered)
seen["tampered"] = status
seen["started_by_refused"] = len(executions()) - before

# GitHub's form content type, signed over the form body.
form = urllib.parse.urlencode({"payload": push("main").decode()}).encode()
status, answer = deliver(
    signed["url"], form, github(form, content_type="application/x-www-form-urlencoded"))
seen["form_push"] = [status, answer.get("started")]
if answer.get("started"):
    finished(answer["pipelineExecutionId"])

# Anyone may call an unauthenticated webhook; its payload must be JSON.
status, answer = deliver(anyone["url"], push("main"), {"Content-Type": "application/json"})
seen["anyone_push"] = [status, answer.get("started")]
if answer.get("started"):
    seen["anyone_trigger"] = finished(answer["pipelineExecutionId"])["trigger"]["triggerType"]
status, answer = deliver(anyone["url"], b"ref=main", {"Content-Type": "text/plain"})
seen["not_json"] = status
status, answer = deliver(anyone["url"], b" " * (1 << 20) + push("main"), {"Content-Type": "application/json"})
seen["too_large"] = status

# An address range is checked against the connection's address.
status, answer = deliver(by_ip["url"], push("main"), {"Content-Type": "application/json"})
seen["by_ip"] = [status, answer.get("started")]
status, answer = deliver(elsewhere["url"], push("main"), {"Content-Type": "application/json"})
seen["by_other_ip"] = [status, answer.get("error", {}).get("message")]

# Registration with a third party: nothing to call; an unknown name is refused.
seen["register"] = cp.register_webhook_with_third_party(webhookName="gh-signed")["ResponseMetadata"][
    "HTTPStatusCode"]
seen["deregister"] = cp.deregister_webhook_with_third_party(webhookName="gh-signed")[
    "ResponseMetadata"]["HTTPStatusCode"]
seen["register_unknown"] = error_of(
    lambda: cp.register_webhook_with_third_party(webhookName="nope"))
seen["deregister_unknown"] = error_of(
    lambda: cp.deregister_webhook_with_third_party(webhookName="nope"))

# Deleted: its URL answers 404, its tags are gone; deleting again succeeds;
# put again, it has a new URL.
cp.delete_webhook(name="gh-signed")
status, answer = deliver(signed["url"], push("main"), github(push("main")))
seen["deleted_url"] = status
seen["deleted_tags"] = error_of(lambda: cp.list_tags_for_resource(resourceArn=signed["arn"]))
seen["delete_again"] = error_of(lambda: cp.delete_webhook(name="gh-signed"))
seen["after_delete"] = listed()[0]
renewed = cp.put_webhook(webhook=webhook("gh-signed", "GITHUB_HMAC", {"SecretToken": SECRET}))["webhook"]
seen["new_url"] = renewed["url"] != signed["url"]
seen["renewed_tags"] = cp.list_tags_for_resource(resourceArn=renewed["arn"])["tags"]

# A pipeline's webhooks go with it.
cp.delete_pipeline(name=NAME)
seen["after_pipeline_deleted"] = listed()[0]
print(json.dumps(seen, default=str))

"""GetPipelineState's latency through boto3 against Sluice's own API, from
one Python process (so both pay the same client language): `sluice bench
waiting --aws-python PYTHON` runs it against its server.

Arguments: URL API_TOKEN KEY_ID SECRET PIPELINE ITERATIONS. Prints JSON:
seconds per call, for each of `health` (GET /api/v1/health with urllib),
`state` (GET /api/v1/pipelines/NAME/state with urllib), `boto3`
(`get_pipeline_state`, signed with SigV4) and `boto3_answered` (the same
call until its answer is in, before botocore parses it), `signed` (the
request signed with botocore's SigV4Auth, sent and read with urllib).
"""
import json
import sys
import time
import urllib.request

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

url, token, key, secret, pipeline, iterations = sys.argv[1:7]
iterations = int(iterations)


def timed(call):
    call()  # one warm-up call: connections, parsers
    samples = []
    for _ in range(iterations):
        begun = time.perf_counter()
        call()
        samples.append(time.perf_counter() - begun)
    return samples


def get(path):
    request = urllib.request.Request(url + path, headers={"Authorization": "Bearer " + token})
    with urllib.request.urlopen(request, timeout=300) as answer:
        answer.read()


client = boto3.client(
    "codepipeline", endpoint_url=url, region_name="us-east-1",
    aws_access_key_id=key, aws_secret_access_key=secret,
    config=Config(retries={"max_attempts": 1}),
)
# When the answer is in, before botocore parses it: what the server and
# the signing cost, apart from parsing.
answered = []
client.meta.events.register(
    "before-parse.codepipeline.GetPipelineState",
    lambda **_: answered.append(time.perf_counter()),
)


def until_answered():
    samples = []
    for _ in range(iterations):
        begun = time.perf_counter()
        client.get_pipeline_state(name=pipeline)
        samples.append(answered[-1] - begun)
    return samples


def signed():
    """The same call, signed with botocore's SigV4Auth, sent with urllib
    and read, not parsed: the server's part, and the transfer."""
    body = json.dumps({"name": pipeline}).encode()
    request = AWSRequest(method="POST", url=url + "/", data=body, headers={
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": "CodePipeline_20150709.GetPipelineState",
    })
    SigV4Auth(Credentials(key, secret), "codepipeline", "us-east-1").add_auth(request)
    sent = urllib.request.Request(url + "/", data=body, headers=dict(request.headers.items()))
    with urllib.request.urlopen(sent, timeout=300) as answer:
        answer.read()


print(json.dumps({
    "signed": timed(signed),
    "health": timed(lambda: get("/api/v1/health")),
    "state": timed(lambda: get(f"/api/v1/pipelines/{pipeline}/state")),
    "boto3": timed(lambda: client.get_pipeline_state(name=pipeline)),
    "boto3_answered": until_answered(),
}))

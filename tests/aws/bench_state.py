"""GetPipelineState's latency through boto3 against Sluice's own API, from
one Python process (so both pay the same client language): `sluice bench
waiting --aws-python PYTHON` runs it against its server.

Arguments: URL API_TOKEN KEY_ID SECRET PIPELINE ITERATIONS. Prints JSON:
seconds per call, for each of `health` (GET /api/v1/health with urllib),
`state` (GET /api/v1/pipelines/NAME/state with urllib), `boto3`
(`get_pipeline_state`, signed with SigV4) and `boto3_answered` (the same
call until its answer is in, before botocore parses it).
"""
import json
import sys
import time
import urllib.request

import boto3
from botocore.config import Config

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


print(json.dumps({
    "health": timed(lambda: get("/api/v1/health")),
    "state": timed(lambda: get(f"/api/v1/pipelines/{pipeline}/state")),
    "boto3": timed(lambda: client.get_pipeline_state(name=pipeline)),
    "boto3_answered": until_answered(),
}))

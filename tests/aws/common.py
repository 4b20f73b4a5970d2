"""What the scripts of tests/aws share: clients pointed at `sluice serve`,
errors as AWS names them, and action declarations."""
import boto3
import botocore.exceptions
from botocore.config import Config


def client(endpoint, key_id, secret_key, service="codepipeline", token=None, session=None):
    """A boto3 client of `service` at `endpoint`, unmodified but for its
    endpoint and credentials, that does not retry."""
    return (session or boto3).client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=key_id,
        aws_secret_access_key=secret_key,
        aws_session_token=token,
        config=Config(retries={"max_attempts": 1}),
    )


def error_of(call):
    """The error `call` raises, as [code, message]; None when it succeeds."""
    try:
        call()
    except botocore.exceptions.ClientError as e:
        return [e.response["Error"]["Code"], e.response["Error"]["Message"]]
    return None


def error_code(call):
    """The code of the error `call` raises; None when it succeeds."""
    error = error_of(call)
    return error and error[0]


def action(name, category, owner, provider, configuration=None, inputs=(), outputs=(), **more):
    """An action's declaration, version 1, run order 1."""
    out = {
        "name": name,
        "actionTypeId": {"category": category, "owner": owner, "provider": provider, "version": "1"},
        "runOrder": 1,
        "configuration": configuration or {},
        "inputArtifacts": [{"name": n} for n in inputs],
        "outputArtifacts": [{"name": n} for n in outputs],
    }
    out.update(more)
    return out

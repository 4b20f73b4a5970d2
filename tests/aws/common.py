"""What the scripts of tests/aws share: clients pointed at `sluice serve`,
errors as AWS names them, and action declarations."""
import json

import boto3
import botocore.exceptions
from botocore.config import Config


def client(endpoint, key_id, secret_key, service="codepipeline", token=None, session=None):
    """A boto3 client of `service` at `endpoint`, unmodified but for its
    endpoint and credentials, that does not retry. A CodePipeline client
    checks every answer against botocore's model (see `check_answers`)."""
    made = (session or boto3).client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=key_id,
        aws_secret_access_key=secret_key,
        aws_session_token=token,
        config=Config(retries={"max_attempts": 1}),
    )
    if service == "codepipeline":
        check_answers(made)
    return made


class ShapeError(AssertionError):
    """An answer that does not match botocore's model of it."""


def check_answers(made):
    """Has `made` (a CodePipeline client) check every JSON answer, before
    botocore parses it, against the model's shape of the operation's output
    (or of the error it names): no member the model lacks, every member of
    the model's type, enums within their values, required members there.
    botocore itself would skip what it does not know; a stricter SDK would
    not. A mismatch fails the call with a ShapeError naming the path."""
    model = made.meta.service_model

    def before_parse(operation_model, response_dict, **_):
        headers = {k.lower(): v for k, v in response_dict.get("headers", {}).items()}
        if "json" not in headers.get("content-type", ""):
            return
        body = json.loads(response_dict["body"] or b"{}")
        if response_dict["status_code"] < 300:
            shape = operation_model.output_shape
        else:
            name = body.get("__type", "").split("#")[-1]
            shape = model.shape_for(name) if name in model.shape_names else None
            body = {k: v for k, v in body.items() if k != "__type"}
            if shape is None:
                return
        problems = []
        if shape is not None:
            mismatches(shape, body, operation_model.name, problems)
        if problems:
            raise ShapeError("; ".join(problems[:10]))

    made.meta.events.register("before-parse.codepipeline", before_parse)


def mismatches(shape, value, path, problems):
    """Collects where `value` does not match `shape`."""
    if value is None:
        return
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            problems.append(f"{path}: a structure, not {type(value).__name__}")
            return
        for key, member in value.items():
            if key not in shape.members:
                # Errors' `message`/`Message` are members of every error shape.
                if not (shape.metadata.get("exception") and key.lower() == "message"):
                    problems.append(f"{path}.{key}: not a member of {shape.name}")
                continue
            mismatches(shape.members[key], member, f"{path}.{key}", problems)
        for key in shape.required_members:
            if value.get(key) is None:
                problems.append(f"{path}.{key}: required by {shape.name}, missing")
    elif kind == "list":
        if not isinstance(value, list):
            problems.append(f"{path}: a list, not {type(value).__name__}")
            return
        for i, item in enumerate(value):
            mismatches(shape.member, item, f"{path}[{i}]", problems)
    elif kind == "map":
        if not isinstance(value, dict):
            problems.append(f"{path}: a map, not {type(value).__name__}")
            return
        for key, item in value.items():
            mismatches(shape.value, item, f"{path}[{key!r}]", problems)
    elif kind == "string":
        if not isinstance(value, str):
            problems.append(f"{path}: a string, not {type(value).__name__}")
        elif shape.enum and value not in shape.enum:
            problems.append(f"{path}: {value!r} is not one of {shape.enum}")
    elif kind in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            problems.append(f"{path}: an integer, not {value!r}")
    elif kind in ("double", "float", "timestamp"):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            problems.append(f"{path}: a number, not {value!r}")
    elif kind == "boolean":
        if not isinstance(value, bool):
            problems.append(f"{path}: a boolean, not {value!r}")


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

"""Action types through the CodePipeline API by boto3, unmodified, against
`sluice serve`: the host's own (built-in providers, an installed plugin,
the AWS types it runs) listed, filtered by owner, paged and read; a custom
action type created with tags, created again, read, updated, tagged and
deleted; and the refusals, each with AWS's error.

Arguments: ENDPOINT ADMIN_KEY_ID ADMIN_SECRET READ_KEY_ID READ_SECRET
PLUGIN_REFERENCE (the installed plugin as ListActionTypes names it).
Prints one JSON object of what it saw.
"""
import json
import sys
import time

import common

endpoint, admin_key, admin_secret, read_key, read_secret, plugin = sys.argv[1:7]
ARN = "arn:aws:codepipeline:local:000000000000:actiontype:Custom/Deploy/MyDeployer/1"


def client(key_id, secret_key):
    return common.client(endpoint, key_id, secret_key)


error_of = common.error_of


def ids(types):
    return ["/".join(t["id"][k] for k in ("owner", "category", "provider", "version")) for t in types]


admin = client(admin_key, admin_secret)
reader = client(read_key, read_secret)
seen = {}

# The host's own types. The first listing describes every built-in.
started = time.monotonic()
first = reader.list_action_types()
seen["first_list_seconds"] = round(time.monotonic() - started, 3)
started = time.monotonic()
everything = reader.list_action_types()
seen["second_list_seconds"] = round(time.monotonic() - started, 3)
seen["all"] = ids(everything["actionTypes"])
seen["all_has_next_token"] = "nextToken" in everything
git = next(t for t in everything["actionTypes"] if t["id"]["provider"] == "builtin:git")
seen["git"] = git
seen["plugin"] = next((t for t in everything["actionTypes"] if t["id"]["provider"] == plugin), None)
for owner in ("AWS", "ThirdParty", "Custom"):
    listed = reader.list_action_types(actionOwnerFilter=owner)["actionTypes"]
    seen["owners_" + owner] = sorted({t["id"]["owner"] for t in listed})
    seen["count_" + owner] = len(listed)
seen["bad_owner"] = error_of(lambda: reader.list_action_types(actionOwnerFilter="Nobody"))
seen["bad_token"] = error_of(lambda: reader.list_action_types(nextToken="not-a-token"))

# Read like any type: a built-in, an AWS type, the plugin.
seen["get_builtin"] = reader.get_action_type(
    category=git["id"]["category"], owner="Custom", provider="builtin:git", version="1")["actionType"]
seen["get_aws"] = reader.get_action_type(
    category="Source", owner="AWS", provider="CodeCommit", version="1")["actionType"]
seen["get_plugin"] = reader.get_action_type(
    category=seen["plugin"]["id"]["category"], owner="Custom", provider=plugin, version="1")["actionType"]
seen["get_unknown"] = error_of(lambda: reader.get_action_type(
    category="Deploy", owner="Custom", provider="MyDeployer", version="1"))
seen["get_wrong_category"] = error_of(lambda: reader.get_action_type(
    category="Build", owner="AWS", provider="CodeCommit", version="1"))

# A custom action type.
deployer = {
    "category": "Deploy",
    "provider": "MyDeployer",
    "version": "1",
    "settings": {
        "entityUrlTemplate": "https://deploy.example.com/envs/{Config:Environment}",
        "executionUrlTemplate": "https://deploy.example.com/runs/{ExternalExecutionId}",
    },
    "configurationProperties": [
        {"name": "Environment", "required": True, "key": True, "secret": False,
         "queryable": True, "description": "Where to deploy", "type": "String"},
        {"name": "Token", "required": False, "key": False, "secret": True},
    ],
    "inputArtifactDetails": {"minimumCount": 1, "maximumCount": 1},
    "outputArtifactDetails": {"minimumCount": 0, "maximumCount": 0},
}
seen["reader_creates"] = error_of(lambda: reader.create_custom_action_type(**deployer))
created = admin.create_custom_action_type(**deployer, tags=[{"key": "team", "value": "ops"}])
seen["created"] = created["actionType"]
seen["created_tags"] = created["tags"]
seen["created_again"] = admin.create_custom_action_type(**deployer)["actionType"] == created["actionType"]
changed = dict(deployer, inputArtifactDetails={"minimumCount": 0, "maximumCount": 2})
seen["created_otherwise"] = error_of(lambda: admin.create_custom_action_type(**changed))
seen["too_many_inputs"] = error_of(lambda: admin.create_custom_action_type(
    **dict(deployer, version="2", inputArtifactDetails={"minimumCount": 0, "maximumCount": 6})))
seen["two_queryable"] = error_of(lambda: admin.create_custom_action_type(**dict(
    deployer, version="2", configurationProperties=[
        dict(p, queryable=True, required=True, secret=False) for p in deployer["configurationProperties"]])))
seen["bad_category"] = error_of(lambda: admin.create_custom_action_type(**dict(deployer, category="Lint")))
seen["bad_provider"] = error_of(lambda: admin.create_custom_action_type(**dict(deployer, provider="my deployer")))
seen["reserved_tag"] = error_of(lambda: admin.create_custom_action_type(
    **dict(deployer, version="3"), tags=[{"key": "aws:x", "value": "y"}]))
seen["get_custom"] = reader.get_action_type(
    category="Deploy", owner="Custom", provider="MyDeployer", version="1")["actionType"]
seen["listed_custom"] = [t for t in reader.list_action_types(actionOwnerFilter="Custom")["actionTypes"]
                         if t["id"]["provider"] == "MyDeployer"]

# Tags by the type's ARN.
seen["tags"] = reader.list_tags_for_resource(resourceArn=ARN)["tags"]
admin.tag_resource(resourceArn=ARN, tags=[{"key": "tier", "value": "1"}])
admin.untag_resource(resourceArn=ARN, tagKeys=["team"])
seen["tags_after"] = reader.list_tags_for_resource(resourceArn=ARN)["tags"]

# Updated from the declaration GetActionType gave.
declaration = json.loads(json.dumps(seen["get_custom"]))
declaration["description"] = "Deploys to our fleet"
declaration["properties"] = [
    {"name": "Environment", "optional": False, "key": True, "noEcho": False, "queryable": True},
    {"name": "Region", "optional": True, "key": False, "noEcho": False, "description": "Which region"},
]
declaration["urls"] = {"configurationUrl": "https://deploy.example.com/setup"}
declaration["outputArtifactDetails"] = {"minimumCount": 0, "maximumCount": 1}
admin.update_action_type(actionType=declaration)
seen["updated"] = reader.get_action_type(
    category="Deploy", owner="Custom", provider="MyDeployer", version="1")["actionType"]
seen["updated_listed"] = [t for t in reader.list_action_types(actionOwnerFilter="Custom")["actionTypes"]
                          if t["id"]["provider"] == "MyDeployer"][0]
seen["update_builtin"] = error_of(lambda: admin.update_action_type(actionType=seen["get_builtin"]))
seen["update_aws"] = error_of(lambda: admin.update_action_type(actionType=seen["get_aws"]))
missing = json.loads(json.dumps(declaration))
missing["id"]["version"] = "9"
seen["update_unknown"] = error_of(lambda: admin.update_action_type(actionType=missing))
lambda_executor = json.loads(json.dumps(declaration))
lambda_executor["executor"] = {
    "type": "Lambda",
    "configuration": {"lambdaExecutorConfiguration": {
        "lambdaFunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:f"}},
}
seen["update_lambda"] = error_of(lambda: admin.update_action_type(actionType=lambda_executor))

# Pages of 100: enough custom types for more than one.
for i in range(100):
    admin.create_custom_action_type(
        category="Test", provider="Pager%03d" % i, version="1",
        inputArtifactDetails={"minimumCount": 0, "maximumCount": 0},
        outputArtifactDetails={"minimumCount": 0, "maximumCount": 0})
pages = list(reader.get_paginator("list_action_types").paginate())
seen["page_sizes"] = [len(p["actionTypes"]) for p in pages]
paged = [i for p in pages for i in ids(p["actionTypes"])]
seen["paged_unique"] = len(paged) == len(set(paged))
seen["paged_pagers"] = len([i for i in paged if "/Pager" in i])
seen["paged_total"] = len(paged)

# Deleted, with its tags; deleting again is fine.
seen["reader_deletes"] = error_of(lambda: reader.delete_custom_action_type(
    category="Deploy", provider="MyDeployer", version="1"))
admin.delete_custom_action_type(category="Deploy", provider="MyDeployer", version="1")
seen["get_deleted"] = error_of(lambda: reader.get_action_type(
    category="Deploy", owner="Custom", provider="MyDeployer", version="1"))
seen["tags_deleted"] = error_of(lambda: reader.list_tags_for_resource(resourceArn=ARN))
seen["delete_again"] = error_of(lambda: admin.delete_custom_action_type(
    category="Deploy", provider="MyDeployer", version="1"))
seen["delete_builtin"] = error_of(lambda: admin.delete_custom_action_type(
    category="Source", provider="builtin:git", version="1"))
# Created again after deletion: a new type, without the old tags.
admin.create_custom_action_type(**deployer)
seen["recreated_tags"] = reader.list_tags_for_resource(resourceArn=ARN)["tags"]

print(json.dumps(seen, default=str))

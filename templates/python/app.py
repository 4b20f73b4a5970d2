# sluice-world: plain-provider
"""`custom:{{name}}`: a build provider written in Python.

It counts the files of its input artifact, writes `report.txt` into its
output artifact and returns the count as output variables.

Build: componentize-py -d wit -w plain-provider componentize app -o provider.wasm
Try:   sluice action run --provider provider.wasm --config Greeting=hi \
           --input src=./fixtures/src --output out=./out
"""

import os
import stat

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import log, types

LANGUAGE = "python"

PROPERTIES = [
    types.Property(
        name="Greeting",
        required=True,
        secret=False,
        description="First line of the report (`report.txt` in the output artifact).",
    ),
    types.Property(
        name="Fail",
        required=False,
        secret=False,
        description="true to make the job fail on purpose (to try failure handling); default false.",
    ),
]

TRUE = ("true", "yes", "1", "on")
FALSE = ("false", "no", "0", "off", "")


class ConfigurationError(Exception):
    """A configuration problem found at run time."""


def problems(configuration):
    """Every problem with a configuration, one message each, naming the property."""
    config = dict(configuration)
    found = []
    for prop in PROPERTIES:
        if prop.required and prop.name not in config:
            found.append(f"missing required configuration property `{prop.name}`")
        elif prop.required and not config[prop.name].strip():
            found.append(f"configuration property `{prop.name}` is empty")
    known = [p.name for p in PROPERTIES]
    for name, _ in configuration:
        if name not in known:
            found.append(f"unknown configuration property `{name}` (known: {', '.join(known)})")
    fail = config.get("Fail")
    # Values holding `#{...}` references are only known at run time.
    if fail is not None and "#{" not in fail and fail.strip().lower() not in TRUE + FALSE:
        found.append(f"configuration property `Fail` must be true or false, not `{fail}`")
    return found


def flag(config, name):
    value = config.get(name, "").strip().lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise ConfigurationError(f"configuration property `{name}` must be true or false, not `{value}`")


def count_files(root):
    """Files (not folders) under `root` and their total size; links are not followed."""
    files, size = 0, 0
    for folder, _, names in os.walk(root, followlinks=False):
        for name in names:
            info = os.lstat(os.path.join(folder, name))
            if not stat.S_ISDIR(info.st_mode):
                files += 1
                size += info.st_size
    return files, size


def failed(kind, message):
    return types.Outcome_Failed(types.Failure(kind=kind, message=message))


class Provider(exports.Provider):
    def describe(self) -> types.Descriptor:
        return types.Descriptor(
            action_type=types.ActionType(
                category=types.Category.BUILD,
                owner="custom",
                provider="{{name}}",
                version="1.0.0",
            ),
            description="Counts the files of its input and writes a report into its output.",
            properties=PROPERTIES,
            min_inputs=1,
            max_inputs=1,
            min_outputs=1,
            max_outputs=1,
        )

    def validate(self, configuration) -> None:
        found = problems(configuration)
        if found:
            raise Err(found)

    def run(self, job: types.Job) -> types.Outcome:
        # Never let an exception escape: it would trap the component. Report
        # it as a failed job instead.
        try:
            return self.work(job)
        except ConfigurationError as e:
            return failed(types.FailureKind.CONFIGURATION_ERROR, str(e))
        except Exception as e:  # noqa: BLE001
            log.log(log.Level.ERROR, f"{type(e).__name__}: {e}")
            return failed(types.FailureKind.JOB_FAILED, f"{type(e).__name__}: {e}")

    def work(self, job: types.Job) -> types.Outcome:
        config = dict(job.configuration)
        greeting = config.get("Greeting", "").strip()
        if not greeting:
            raise ConfigurationError("missing required configuration property `Greeting`")
        if flag(config, "Fail"):
            return failed(
                types.FailureKind.JOB_FAILED,
                "failing on purpose: configuration property `Fail` is true",
            )
        if not job.inputs or not job.outputs:
            raise ConfigurationError("{{name}} needs one input artifact and one output artifact")
        source, output = job.inputs[0], job.outputs[0]

        files, size = count_files(source.path)
        try:
            with open(os.path.join(source.path, "README.md"), encoding="utf-8") as f:
                readme = f.readline().rstrip("\n")
        except FileNotFoundError:
            readme = "(no README.md)"

        with open(os.path.join(output.path, "report.txt"), "w", encoding="utf-8") as f:
            f.write(f"{greeting} from {{name}} ({LANGUAGE})\n")
            f.write(f"input `{source.name}`: {files} files, {size} bytes\n")
            f.write(f"README.md: {readme}\n")

        log.log(log.Level.INFO, f"counted {files} files ({size} bytes) in `{source.name}`")
        return types.Outcome_Succeeded(
            types.Success(
                summary=f"{files} files, {size} bytes in `{source.name}`",
                revision=None,
                output_variables=[
                    ("Files", str(files)),
                    ("Bytes", str(size)),
                    ("Language", LANGUAGE),
                ],
            )
        )

#!/usr/bin/env bash
# The real AWS clients the CodePipeline API is tested with: boto3 and the
# AWS CLI (v1), from PyPI, into a virtual environment of their own:
#
#   ${XDG_CACHE_HOME:-~/.cache}/sluice/aws-clients/bin/{python,aws}
#
# Pinned to a matching pair (awscli 1.45.11 needs botocore 1.43.11).
set -euo pipefail
dir="${SLUICE_AWS_CLIENTS:-${XDG_CACHE_HOME:-$HOME/.cache}/sluice/aws-clients}"
pins=("boto3==1.43.11" "awscli==1.45.11")
if [ -x "$dir/bin/python" ] && "$dir/bin/python" -c 'import boto3, awscli' 2>/dev/null &&
    [ "$("$dir/bin/python" -c 'import boto3; print(boto3.__version__)')" = "1.43.11" ]; then
    exit 0
fi
command -v python3 >/dev/null || { echo "aws-clients: install python3 (Debian: apt-get install python3 python3-venv)" >&2; exit 1; }
rm -rf "$dir"
python3 -m venv "$dir" || { echo "aws-clients: python3 -m venv failed; on Debian install python3-venv" >&2; exit 1; }
"$dir/bin/python" -m pip install --quiet --disable-pip-version-check "${pins[@]}" ||
    { echo "aws-clients: pip could not install ${pins[*]} (is PyPI reachable?)" >&2; exit 1; }

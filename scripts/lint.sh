#!/usr/bin/env bash
set -euxo pipefail
cd "$(dirname "$0")/.." && PATH="$PWD/.venv/bin:$PATH"
mypy shared services deploy tools tests
ruff check .
ruff format --check .

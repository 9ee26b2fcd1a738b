"""Write each service's AsyncAPI document (from its pydantic contracts) to docs/asyncapi/.

The running services also serve it at /docs/asyncapi (HTML) and /docs/asyncapi.json.
Usage: python -m tools.asyncapi [--check]  (--check fails if a committed file is stale)
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "docs" / "asyncapi"
SERVICES = ("intake", "routing", "survey", "compliance", "portal")


def document(name: str) -> str:
    bootstrap = importlib.import_module(f"services.{name}.bootstrap")
    service = bootstrap.create_service()
    service.runtime.broker.include_router(service.runtime.router)
    spec = service.faststream.schema.to_specification().to_jsonable()
    return json.dumps(spec, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.asyncapi")
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    stale = []
    for name in SERVICES:
        text = document(name)
        target = OUT / f"{name}.json"
        if args.check:
            if not target.exists() or target.read_text() != text:
                stale.append(name)
        else:
            target.write_text(text)
            print(f"wrote {target.relative_to(REPO)}")
    if stale:
        print(f"stale AsyncAPI documents: {', '.join(stale)} (run python -m tools.asyncapi)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`python -m services.routing.main`: run routing (HTTP on ROUTING_HTTP_PORT, default 8002)."""

from __future__ import annotations

from services.routing.bootstrap import create_service
from shared.runtime import run


def main() -> None:
    service = create_service()
    run(service.asgi, service.settings)


if __name__ == "__main__":
    main()

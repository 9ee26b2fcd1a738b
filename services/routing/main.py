"""`python -m services.routing.main`: run routing (HTTP on ROUTING_HTTP_PORT, default 8002)."""

from __future__ import annotations

from services.routing.bootstrap import create_service
from shared.service import main

if __name__ == "__main__":
    main(create_service)

"""`python -m services.insight.main`: run insight (HTTP on INSIGHT_HTTP_PORT, 8007)."""

from __future__ import annotations

from services.insight.bootstrap import create_service
from shared.service import main

if __name__ == "__main__":
    main(create_service)

"""`python -m services.portal.main`: the public website (HTTP on PORTAL_HTTP_PORT, 8005)."""

from __future__ import annotations

from services.portal.bootstrap import create_service
from shared.service import main

if __name__ == "__main__":
    main(create_service)

"""`python -m services.intake.main`: run intake (HTTP on INTAKE_HTTP_PORT, default 8001)."""

from __future__ import annotations

from services.intake.bootstrap import create_service
from shared.service import main

if __name__ == "__main__":
    main(create_service)

"""`python -m services.compliance.main`: run compliance (HTTP on COMPLIANCE_HTTP_PORT, 8004)."""

from __future__ import annotations

from services.compliance.bootstrap import create_service
from shared.service import main

if __name__ == "__main__":
    main(create_service)

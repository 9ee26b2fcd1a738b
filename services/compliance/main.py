"""`python -m services.compliance.main`: run compliance (HTTP on COMPLIANCE_HTTP_PORT, 8004)."""

from __future__ import annotations

from services.compliance.bootstrap import create_service
from shared.runtime import run


def main() -> None:
    service = create_service()
    run(service.asgi, service.settings)


if __name__ == "__main__":
    main()

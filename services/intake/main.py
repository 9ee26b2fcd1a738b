"""`python -m services.intake.main`: run intake (HTTP on INTAKE_HTTP_PORT, default 8001)."""

from __future__ import annotations

from services.intake.bootstrap import create_service
from shared.runtime import run


def main() -> None:
    service = create_service()
    run(service.asgi, service.settings)


if __name__ == "__main__":
    main()

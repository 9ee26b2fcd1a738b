# One image for the six services and the console; the command picks which one runs.
FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
# Thai glyphs for the satisfaction report's chart.
# Pango and HarfBuzz: WeasyPrint lays out insight's quarterly report as PDF with them.
RUN apt-get update && apt-get install -y --no-install-recommends fonts-thai-tlwg curl \
    libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 \
    && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml constraints.txt README.md ./
COPY shared ./shared
COPY services ./services
COPY deploy/__init__.py ./deploy/__init__.py
RUN pip install --no-cache-dir -c constraints.txt .
RUN useradd --system --uid 10001 ruam
USER ruam
# Services listen on all interfaces inside the container.
ENV INTAKE_HTTP_HOST=0.0.0.0 ROUTING_HTTP_HOST=0.0.0.0 SURVEY_HTTP_HOST=0.0.0.0 \
    COMPLIANCE_HTTP_HOST=0.0.0.0 PORTAL_HTTP_HOST=0.0.0.0
CMD ["python", "-m", "services.intake.main"]

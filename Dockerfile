# The newsgraph API (`newsgraph serve`), as compose.yaml runs it against Neo4j.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY graph ./graph
COPY api ./api
COPY loaders ./loaders
COPY services ./services
COPY newsgraph ./newsgraph
RUN pip install --no-compile . \
    && useradd --system --uid 10001 --home-dir /app newsgraph \
    && mkdir -p /var/lib/newsgraph && chown newsgraph /var/lib/newsgraph
# the audit record (docs/security.md), on a volume of its own in compose.yaml
ENV NEWSGRAPH_AUDIT_FILE=/var/lib/newsgraph/audit.sqlite3
USER newsgraph

EXPOSE 8000
ENTRYPOINT ["newsgraph"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]

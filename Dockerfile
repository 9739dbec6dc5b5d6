# spamops: one image, one service per container (see docker-compose.yml): the API, the monitor,
# the dashboard, the MLflow UI (profile single) and the shared MLflow tracking server
# (`spamops mlflow-server`, profile multi; psycopg 3 for its PostgreSQL backend store comes
# with the package). Not built on the development machine (no Docker engine there); see
# README "Docker" and docs/deploy.md.
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MLFLOW_DISABLE_TELEMETRY=true \
    DO_NOT_TRACK=true \
    STREAMLIT_BROWSER_GATHER_USAGE_STATS=false \
    STREAMLIT_SERVER_HEADLESS=true \
    SPAMOPS_HOME=/data
WORKDIR /app
COPY pyproject.toml README.md ./
COPY engine ./engine
COPY server ./server
COPY tui ./tui
COPY web_dashboard ./web_dashboard
RUN pip install --no-cache-dir .
VOLUME ["/data"]
# API, dashboard, MLflow (UI or tracking server)
EXPOSE 8000 8501 5000
CMD ["spamops", "--help"]

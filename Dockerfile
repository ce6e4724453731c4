# rollctl as an image for rollout controllers' manifests (deploy/): `rollctl serve` by default entry point.
#   docker build -t rollctl .
#   docker run --rm -p 8008:8008 -v "$PWD/data:/data" rollctl serve /data/traces.duckdb --plan app=/data/rollout.toml --host 0.0.0.0
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY rollctl ./rollctl
RUN pip wheel --no-cache-dir --wheel-dir /wheels '.[serve]'

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 rollctl
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels 'rollctl[serve]' && rm -rf /wheels
USER 10001
WORKDIR /home/rollctl
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
EXPOSE 8008
ENTRYPOINT ["rollctl"]
CMD ["--help"]

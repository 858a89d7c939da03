FROM python:3.11-slim-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends softhsm2 && rm -rf /var/lib/apt/lists/*
RUN pip install --no-cache-dir uv
WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
COPY domain domain
COPY application application
COPY adapters adapters
COPY vault vault
COPY entrypoints entrypoints
COPY hsm hsm
RUN uv sync --frozen --no-dev && ln -s /app/.venv/bin/bursar /usr/local/bin/bursar
ENV PATH=/app/.venv/bin:$PATH
RUN useradd --system --home /var/lib/bursar bursar && mkdir -p /var/lib/bursar/hsm && chown -R bursar /var/lib/bursar
USER bursar

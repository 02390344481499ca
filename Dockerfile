# syntax=docker/dockerfile:1
# One image for every role: `receptionist api` (default), `receptionist worker`, `receptionist migrate`.
FROM python:3.11-slim-bookworm

ARG UV_VERSION=0.13.9

# flite and espeak-ng are the offline text-to-speech fallbacks.
RUN apt-get update \
    && apt-get install -y --no-install-recommends flite espeak-ng \
    && rm -rf /var/lib/apt/lists/*

RUN pip install --no-cache-dir "uv==${UV_VERSION}"

# Use the image's interpreter, never a downloaded one; copy (not hard-link) out of the cache
# mount; compile bytecode at build time because the runtime user cannot write to the venv.
ENV UV_PYTHON_DOWNLOADS=never \
    UV_LINK_MODE=copy \
    UV_COMPILE_BYTECODE=1 \
    PYTHONUNBUFFERED=1

WORKDIR /app

# Dependencies first: this layer is rebuilt only when the lock file changes.
COPY pyproject.toml uv.lock README.md ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-project

COPY core/ ./core/
COPY stack/ ./stack/
COPY workflows/ ./workflows/
COPY activities/ ./activities/
COPY realtime/ ./realtime/
COPY integrations/ ./integrations/
COPY api.py worker.py cli.py ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev

# The code and venv stay root-owned (read-only to the service); only /data is writable.
RUN useradd --create-home --uid 10001 --user-group app \
    && mkdir -p /data \
    && chown app:app /data

ENV PATH=/app/.venv/bin:$PATH \
    RECEPTIONIST_DATA_DIR=/data

USER app
EXPOSE 8000

CMD ["receptionist", "api", "--host", "0.0.0.0"]

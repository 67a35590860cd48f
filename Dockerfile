# Latent Atlas server image. CPU by default:
#   docker build -t latentatlas --build-arg TORCH_INDEX_URL=<your PyTorch CPU wheel index> .
# With TORCH_INDEX_URL empty, torch==2.13.0 comes from PyPI, whose Linux wheel carries CUDA,
# so the same image uses a GPU when one is passed through (LATENTATLAS_DEVICE=auto or cuda).
# For a CUDA base (drivers' user-space libraries, cuDNN), pass one with Python 3.11:
#   docker build --build-arg BASE_IMAGE=<cuda runtime image with python3.11> .
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}
ARG TORCH_INDEX_URL=

ENV PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    LATENTATLAS_HOST=0.0.0.0 \
    LATENTATLAS_PORT=8000 \
    LATENTATLAS_MODELS_DIR=/app/models

RUN apt-get update \
    && apt-get install -y --no-install-recommends nodejs npm \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements.lock ./
# Serve-time dependencies only: the test tools (pytest, playwright, scikit-image) stay out.
RUN if [ -n "$TORCH_INDEX_URL" ]; then pip install --no-cache-dir --index-url "$TORCH_INDEX_URL" torch==2.13.0; fi \
    && grep -v -E "^(pytest|playwright|greenlet|pyee|pooch|scikit-image|imageio|tifffile|lazy-loader|networkx|iniconfig|pluggy|ray)==" requirements.lock > /tmp/requirements.txt \
    && pip install --no-cache-dir -r /tmp/requirements.txt

COPY frontend/package.json frontend/package-lock.json frontend/
RUN cd frontend && npm ci --omit=dev --ignore-scripts --no-audit --no-fund

COPY pyproject.toml README.md ./
COPY backend backend
COPY frontend frontend
RUN pip install --no-cache-dir --no-deps -e .

EXPOSE 8000
VOLUME ["/app/models"]
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz')"
CMD ["latentatlas", "serve"]

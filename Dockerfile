# Latent Atlas server image, in two stages: the frontend's npm packages are installed in a build
# stage, and only the files the pages load are copied into a runtime image without Node.js, which
# runs as an unprivileged user and serves the models mounted at /app/models (docker-compose.yml).
#   docker build -t latentatlas --build-arg TORCH_INDEX_URL=<your PyTorch CPU wheel index> .
# With TORCH_INDEX_URL empty, torch==2.13.0 comes from PyPI, whose Linux wheel carries CUDA,
# so the same image uses a GPU when one is passed through (LATENTATLAS_DEVICE=auto or cuda).
# For a CUDA base (drivers' user-space libraries, cuDNN), pass one with Python 3.11:
#   docker build --build-arg BASE_IMAGE=<cuda runtime image with python3.11> .
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS frontend
RUN apt-get update \
    && apt-get install -y --no-install-recommends nodejs npm \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /build/frontend
COPY frontend/package.json frontend/package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM ${BASE_IMAGE} AS runtime
ARG TORCH_INDEX_URL=
ENV PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    LATENTATLAS_HOST=0.0.0.0 \
    LATENTATLAS_PORT=8000 \
    LATENTATLAS_MODELS_DIR=/app/models \
    LATENTATLAS_STATE_DIR=/app/state

WORKDIR /app
COPY requirements.lock ./
# Serve-time dependencies only: the test tools (pytest, playwright, scikit-image) stay out.
RUN if [ -n "$TORCH_INDEX_URL" ]; then pip install --no-cache-dir --index-url "$TORCH_INDEX_URL" torch==2.13.0; fi \
    && grep -v -i -E "^(pytest|playwright|greenlet|pyee|pooch|scikit-image|imageio|tifffile|lazy-loader|networkx|iniconfig|pluggy|ray|schemathesis|hypothesis|hypothesis-graphql|graphql-core|harfile|jsonschema_rs|pyrate-limiter|sortedcontainers|werkzeug)==" requirements.lock > /tmp/requirements.txt \
    && pip install --no-cache-dir -r /tmp/requirements.txt

COPY pyproject.toml README.md ./
COPY backend backend
COPY frontend/pages frontend/pages
COPY frontend/styles.css frontend/
COPY frontend/src frontend/src
COPY --from=frontend /build/frontend/node_modules/plotly.js-strict-dist-min frontend/node_modules/plotly.js-strict-dist-min
COPY --from=frontend /build/frontend/node_modules/swagger-ui-dist frontend/node_modules/swagger-ui-dist
# ONNX Runtime Web: the WASM build the decoding worker loads (not the package's other 130 MB of builds)
COPY --from=frontend /build/frontend/node_modules/onnxruntime-web/dist/ort.wasm.min.mjs \
     /build/frontend/node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.mjs \
     /build/frontend/node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.wasm \
     frontend/node_modules/onnxruntime-web/dist/
RUN pip install --no-cache-dir --no-deps -e . \
    && useradd --system --uid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin atlas \
    && mkdir -p /app/models /app/state/onnx \
    && chown -R atlas /app/state

USER atlas
EXPOSE 8000
VOLUME ["/app/models", "/app/state"]
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz')"
CMD ["latentatlas", "serve"]

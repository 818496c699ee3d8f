# The GitHub Action's own image. The runner builds it from this file at EVERY job run, so it is
# kept small and its slow parts (base pulls, pip install) come before the files that change.
#
# Pins, and why these:
# - docker:29.7.2-cli: the static `docker` CLI and the buildx plugin it ships, matched by the
#   Docker official image. The engine needs buildx for
#   `--platform linux/amd64 --provenance=false --sbom=false` (Heroku refuses attestations).
#   The host's daemon is reached through the socket the runner mounts.
# - python:3.11-slim-bookworm: the Python minor release and Debian release CI tests on; slim
#   because the runner pulls it on every run. Patch releases come in with security fixes.
FROM docker:29.7.2-cli AS docker-cli

FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    APPWRITE_LITE_CONTEXT=/opt/appwrite-lite

COPY --from=docker-cli /usr/local/bin/docker /usr/local/bin/docker
COPY --from=docker-cli /usr/local/libexec/docker/cli-plugins/docker-buildx \
     /usr/local/libexec/docker/cli-plugins/docker-buildx

# The Lite build context, bundled: a repository that holds only a workflow can still be built.
WORKDIR /opt/appwrite-lite
COPY pyproject.toml README.md Dockerfile.lite heroku.yml ./
COPY src ./src
RUN pip install --no-cache-dir . \
    && docker --version && docker buildx version

COPY entrypoint.py /opt/appwrite-heroku-action/entrypoint.py

# The runner sets the working directory to the workspace (/github/workspace) and runs as root,
# as container actions must to read the workspace the runner mounted.
ENTRYPOINT ["python3", "/opt/appwrite-heroku-action/entrypoint.py"]

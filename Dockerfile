# The GitHub Action's own image. Each tag's image is built once and published to GHCR
# (.github/workflows/publish-action.yml); action.yml names it, so a run pulls it instead of
# building it. Built from this file it still works (`image: Dockerfile` in a fork).
#
# What is in it, and why so little (target: under 200 MB; `python3 benchmarks/action_image.py`):
# - python:3.11-alpine3.23: the Python minor release CI tests on, on Alpine (about 55 MB against
#   about 125 MB for Debian slim). Alpine 3.23 is the release Appwrite 1.9.6's own base runs on.
# - docker/buildx-bin:0.30.1: the standalone buildx binary only. The engine needs buildx for
#   `--platform linux/amd64 --provenance=false --sbom=false` (Heroku refuses attestations) and
#   runs it standalone (`buildx build`) against the host's daemon, through the socket the runner
#   mounts; the docker CLI (another 40 MB) is not needed: the registry login is a file the engine
#   writes (release/build.py).
# - The release side's libraries only, from a lock with hashes (requirements/action.txt, made
#   with pip-compile for this Python); then this package without dependencies. No bytecode is
#   written: a run is one process, and .pyc files would add a third to the libraries.
FROM docker/buildx-bin:0.30.1 AS buildx

FROM python:3.11-alpine3.23

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    APPWRITE_LITE_CONTEXT=/opt/appwrite-lite

COPY --from=buildx /buildx /usr/local/bin/buildx

# The slow, rarely changing part first: the locked libraries.
COPY requirements/action.txt /tmp/action.txt
RUN pip install --no-cache-dir --no-compile --require-hashes -r /tmp/action.txt \
    && rm /tmp/action.txt

# The Lite build context, bundled: a repository that holds only a workflow can still be built.
WORKDIR /opt/appwrite-lite
COPY pyproject.toml README.md Dockerfile.lite heroku.yml ./
COPY requirements/dyno.txt ./requirements/
COPY src ./src
RUN pip install --no-cache-dir --no-compile --no-deps . && buildx version

COPY entrypoint.py /opt/appwrite-heroku-action/entrypoint.py

# The runner sets the working directory to the workspace (/github/workspace) and runs as root,
# as container actions must to read the workspace the runner mounted.
ENTRYPOINT ["python3", "/opt/appwrite-heroku-action/entrypoint.py"]

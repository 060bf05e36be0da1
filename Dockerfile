# One image for every Python service of inplay; the compose command picks the process:
#   python -m producer | storage migrate | storage sink | rest_api
#   python -m broadcaster ingest | broadcaster gateway
# Plain Dockerfile syntax (no BuildKit-only features) so `docker-compose build` works too.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

# The services run as an unprivileged user. It owns the virtualenv and /app so that
# Tilt's live_update (which syncs files and runs `pip install` as this user) works.
RUN groupadd --system --gid 10001 inplay \
    && useradd --system --uid 10001 --gid inplay --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin inplay \
    && python -m venv "$VIRTUAL_ENV" \
    && mkdir /app \
    && chown -R inplay:inplay "$VIRTUAL_ENV" /app

USER inplay
WORKDIR /app

# Dependencies first, from pyproject.toml alone: this layer is rebuilt only when the
# dependency list changes, not on every source edit. Runtime deps only, never [dev].
# Every dependency ships a manylinux wheel for cp311 (x86_64 and aarch64), so the
# slim image needs no compiler.
COPY --chown=inplay:inplay pyproject.toml ./
RUN python -c "import tomllib; deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; print('\n'.join(deps))" \
       > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# Then the project itself (.dockerignore lets in only pyproject, README and the packages).
# `python -m <pkg>` runs with /app as the working directory, which Python puts first
# on sys.path: the packages under /app (and their data files, e.g. storage's SQL
# migrations) are what runs, so files that live_update syncs there take effect.
COPY --chown=inplay:inplay . ./
RUN pip install --no-deps . \
    && rm -rf build ./*.egg-info

# Documentation only (compose publishes them): rest_api, gateway WebSocket, gateway /metrics.
EXPOSE 18000 18765 18766

# No default service: every compose service names its own command.
CMD ["python", "-c", "print('inplay image: run python -m producer | storage | rest_api | broadcaster')"]

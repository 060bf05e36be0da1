#!/usr/bin/env bash
# Installs what the local stack needs, only what is missing, on Debian 12:
#   apt packages (PostgreSQL 15, Redis, Java and Maven, build tools, docker-compose for the
#   static checks), TimescaleDB (Apache-2 edition) built from Debian's source package,
#   Apache Kafka's jars from Maven Central, and the virtualenv.
# Re-running it is cheap: every step checks first and says what it skips.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
data=${INPLAY_DATA_DIR:-$root/.local}
build=$data/build
venv=${INPLAY_VENV:-$root/.venv}
pg_config=/usr/lib/postgresql/15/bin/pg_config
python=${PYTHON:-python3}
started=$SECONDS
mkdir -p "$data"

say() { printf '[bootstrap %3ds] %s\n' $((SECONDS - started)) "$*"; }
sudo_if_needed() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# --- apt packages -----------------------------------------------------------------------
need_pkgs=()
[ -x /usr/lib/postgresql/15/bin/postgres ] || need_pkgs+=(postgresql-15)
# pg_config alone comes with the client; building an extension needs the server headers.
[ -f /usr/include/postgresql/15/server/postgres.h ] || need_pkgs+=(postgresql-server-dev-15)
command -v redis-server >/dev/null || need_pkgs+=(redis-server)
command -v docker-compose >/dev/null || need_pkgs+=(docker-compose)
# Apache Kafka runs as a plain java process; Maven fetches its jars.
command -v java >/dev/null || need_pkgs+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || need_pkgs+=(maven)
command -v cmake >/dev/null || need_pkgs+=(cmake)
command -v gcc >/dev/null || need_pkgs+=(gcc make)
command -v dpkg-source >/dev/null || need_pkgs+=(dpkg-dev)
command -v xz >/dev/null || need_pkgs+=(xz-utils)
[ -f /usr/include/openssl/ssl.h ] || need_pkgs+=(libssl-dev)
"$python" -c 'import ensurepip, venv' 2>/dev/null || need_pkgs+=(python3-venv)

if [ ${#need_pkgs[@]} -gt 0 ]; then
  say "installing apt packages: ${need_pkgs[*]} (about a minute)"
  # The stack runs its own PostgreSQL and Redis on their own ports: keep the packages from
  # creating and starting system-wide servers on the standard ports.
  if [ ! -e /etc/postgresql-common/createcluster.conf ]; then
    sudo_if_needed mkdir -p /etc/postgresql-common
    echo "create_main_cluster = false" | sudo_if_needed tee /etc/postgresql-common/createcluster.conf >/dev/null
  fi
  policy=/usr/sbin/policy-rc.d
  made_policy=0
  if [ ! -e $policy ]; then
    printf '#!/bin/sh\nexit 101\n' | sudo_if_needed tee $policy >/dev/null
    sudo_if_needed chmod +x $policy
    made_policy=1
  fi
  sudo_if_needed apt-get update -qq
  DEBIAN_FRONTEND=noninteractive sudo_if_needed apt-get install -y -qq --no-install-recommends \
    "${need_pkgs[@]}" >"$data/apt-install.log" 2>&1 || {
      tail -20 "$data/apt-install.log"
      echo "bootstrap: could not install ${need_pkgs[*]} (log: $data/apt-install.log); install them yourself and run make again"
      exit 1
    }
  [ $made_policy = 1 ] && sudo_if_needed rm -f $policy
else
  say "apt packages: all present"
fi

# --- TimescaleDB --------------------------------------------------------------------------
ext_dir=$("$pg_config" --sharedir)/extension
if [ -f "$ext_dir/timescaledb.control" ]; then
  say "TimescaleDB: installed ($(sed -n "s/^default_version = '\(.*\)'/\1/p" "$ext_dir/timescaledb.control"))"
else
  say "TimescaleDB: building 2.19 (Apache-2 edition) from Debian's source package (about 40 s)"
  mkdir -p "$build/apt/lists/partial" "$build/apt/cache" "$build/src"
  # Debian 12 ships no TimescaleDB binary; the next release's source package builds against
  # PostgreSQL 15. A private sources list keeps the system's apt configuration untouched,
  # and the mirror is the one this machine already uses for its own release.
  codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
  mirror=$(apt-get indextargets --format '$(REPO_URI) $(RELEASE)' | awk -v c="$codename" '$2==c {print $1; exit}')
  [ -n "$mirror" ] || { echo "bootstrap: no apt mirror configured for $codename"; exit 1; }
  echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror trixie main" \
    >"$build/apt/sources.list"
  apt_opts=(-o "Dir::Etc::SourceList=$build/apt/sources.list" -o "Dir::Etc::SourceParts=/nonexistent"
    -o "Dir::State::Lists=$build/apt/lists" -o "Dir::Cache=$build/apt/cache" -o "APT::Sandbox::User=root")
  apt-get "${apt_opts[@]}" update -qq >"$build/apt.log" 2>&1 || { tail "$build/apt.log"; exit 1; }
  rm -rf "$build/src" && mkdir -p "$build/src"
  (cd "$build/src" && apt-get "${apt_opts[@]}" source -qq timescaledb >>"$build/apt.log" 2>&1) \
    || { tail "$build/apt.log"; exit 1; }
  srcdir=$(find "$build/src" -maxdepth 1 -mindepth 1 -type d -name 'timescaledb-*' | head -1)
  (cd "$srcdir" && ./bootstrap -DAPACHE_ONLY=ON -DREGRESS_CHECKS=OFF -DTAP_CHECKS=OFF \
      -DGENERATE_DOWNGRADE_SCRIPT=OFF -DPG_CONFIG="$pg_config" >"$build/timescaledb.log" 2>&1 \
    && make -C build -j"$(nproc)" >>"$build/timescaledb.log" 2>&1 \
    && sudo_if_needed make -C build install >>"$build/timescaledb.log" 2>&1) \
    || { tail -30 "$build/timescaledb.log"; exit 1; }
  say "TimescaleDB: installed"
fi

# --- Apache Kafka's jars -------------------------------------------------------------------
# Into a cache beside the data (make reset keeps it), refilled only when stack/kafka/pom.xml
# changes; Maven's own repository (~/.m2) makes a refill cheap.
kafka_libs=$root/.local/cache/kafka-libs
kafka_want=$(sha256sum "$root/stack/kafka/pom.xml" | cut -c1-16)
if [ -f "$kafka_libs/.inplay-installed" ] && [ "$(cat "$kafka_libs/.inplay-installed")" = "$kafka_want" ]; then
  say "Apache Kafka: jars present ($(cd "$kafka_libs" && ls kafka_2.13-*.jar | sed 's/kafka_2.13-\(.*\)\.jar/\1/'))"
else
  for tool in java mvn; do
    command -v $tool >/dev/null || { echo "bootstrap: $tool is missing and could not be installed: install OpenJDK 17 and Maven, then run make again"; exit 1; }
  done
  say "Apache Kafka: fetching its jars from Maven Central (stack/kafka/pom.xml; under a minute)"
  rm -rf "$kafka_libs" && mkdir -p "$kafka_libs"
  mvn -q -B -f "$root/stack/kafka/pom.xml" dependency:copy-dependencies -DincludeScope=runtime \
      -DoutputDirectory="$kafka_libs" >"$data/mvn.log" 2>&1 \
    || { tail -30 "$data/mvn.log"; echo "bootstrap: Maven could not fetch Kafka's jars (log: $data/mvn.log)"; exit 1; }
  echo "$kafka_want" >"$kafka_libs/.inplay-installed"
  say "Apache Kafka: jars ready in $kafka_libs"
fi

# --- virtualenv -------------------------------------------------------------------------
stamp=$venv/.inplay-installed
want=$(cat "$root/pyproject.toml" | sha256sum | cut -c1-16)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  say "virtualenv: up to date ($venv)"
else
  say "virtualenv: installing the project and its dev dependencies into $venv (about a minute)"
  [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --upgrade pip >/dev/null 2>&1 || true
  "$venv/bin/python" -m pip install -q -e "$root[dev]" >"$data/pip.log" 2>&1 \
    || { tail -30 "$data/pip.log"; exit 1; }
  echo "$want" >"$stamp"
  say "virtualenv: ready"
fi

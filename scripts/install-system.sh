#!/usr/bin/env bash
# Idempotent install of what the local services and tests need (no Docker):
#   * Debian packages: redis-server (+ redis-cli), kcat, prometheus
#     (and a JRE / Maven only if `java` / `mvn` are missing)
#   * the Apache Kafka 4.x broker jars, resolved from Maven Central by
#     scripts/kafka/pom.xml, into ${KAFKA_LIB_DIR:-${SERVICES_DIR:-<repo>/.services}/kafka/lib}
#
# Re-running is cheap: apt is skipped when the binaries exist, Maven is skipped
# when the jars for the requested Kafka version are already in place.
#
# Env:
#   SERVICES_DIR      default <repo>/.services (relative paths are taken from the repo root)
#   KAFKA_LIB_DIR     default $SERVICES_DIR/kafka/lib
#   KAFKA_VERSION     default: the one in scripts/kafka/pom.xml
#   SKIP_APT=1        do not touch apt packages
#   SKIP_KAFKA_JARS=1 do not fetch the Kafka jars
#   SKIP_COMPOSE=1    do not build the docker compose CLI plugin
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
POM="$ROOT/scripts/kafka/pom.xml"

abspath() { case "$1" in /*) printf '%s\n' "$1" ;; *) printf '%s\n' "$ROOT/$1" ;; esac; }

SERVICES_DIR="$(abspath "${SERVICES_DIR:-.services}")"
KAFKA_LIB_DIR="$(abspath "${KAFKA_LIB_DIR:-$SERVICES_DIR/kafka/lib}")"
# The version in the POM is the default; KAFKA_VERSION overrides it.
POM_KAFKA_VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$POM" | head -n1)"
KAFKA_VERSION="${KAFKA_VERSION:-$POM_KAFKA_VERSION}"

log() { printf '[install-system] %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else log "need root (or sudo) to run: $*"; return 1
  fi
}

install_apt_packages() {
  local -a pkgs=()
  command -v redis-server >/dev/null 2>&1 || pkgs+=(redis-server)
  command -v redis-cli >/dev/null 2>&1 || pkgs+=(redis-tools)
  command -v kcat >/dev/null 2>&1 || pkgs+=(kcat)
  command -v prometheus >/dev/null 2>&1 || pkgs+=(prometheus)
  command -v java >/dev/null 2>&1 || pkgs+=(openjdk-17-jre-headless)
  command -v mvn >/dev/null 2>&1 || pkgs+=(maven)
  if [ "${#pkgs[@]}" -eq 0 ]; then
    log "apt packages: already present (redis-server, redis-cli, kcat, prometheus, java, mvn)"
    return 0
  fi
  log "apt packages to install: ${pkgs[*]}"
  # Keep apt from starting system-wide redis/prometheus daemons (they would take
  # ports 6379/9090): a policy-rc.d that says "no", only if none exists already.
  local policy=/usr/sbin/policy-rc.d created_policy=0
  if [ ! -e "$policy" ]; then
    as_root sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod +x $policy"
    created_policy=1
  fi
  local rc=0
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q \
    || log "apt-get update failed; trying the install anyway"
  as_root env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "${pkgs[@]}" || rc=$?
  if [ "$created_policy" -eq 1 ]; then as_root rm -f "$policy"; fi
  return "$rc"
}

kafka_jars_present() {
  local marker="$KAFKA_LIB_DIR/.kafka-version"
  [ -f "$marker" ] && [ "$(cat "$marker")" = "$KAFKA_VERSION" ] \
    && [ -f "$KAFKA_LIB_DIR/kafka_2.13-$KAFKA_VERSION.jar" ]
}

install_kafka_jars() {
  if kafka_jars_present; then
    log "Kafka $KAFKA_VERSION jars: already in $KAFKA_LIB_DIR"
    return 0
  fi
  mkdir -p "$(dirname "$KAFKA_LIB_DIR")"
  # Serialize concurrent installs into the same lib dir, then re-check.
  exec 9>"$(dirname "$KAFKA_LIB_DIR")/.install.lock"
  flock 9
  if kafka_jars_present; then
    log "Kafka $KAFKA_VERSION jars: already in $KAFKA_LIB_DIR"
    return 0
  fi
  command -v mvn >/dev/null 2>&1 || { log "mvn not found (install maven)"; return 1; }
  log "Kafka $KAFKA_VERSION jars: resolving with Maven into $KAFKA_LIB_DIR"
  # Resolve into a temp dir next to the target, then swap it in, so that an
  # interrupted run never leaves a half-filled lib dir behind.
  local tmp
  tmp="$(mktemp -d "$(dirname "$KAFKA_LIB_DIR")/.lib.XXXXXX")"
  if ! mvn -B -q -Dstyle.color=never -f "$POM" -Dkafka.version="$KAFKA_VERSION" \
        dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp"; then
    rm -rf "$tmp"
    log "Maven failed to resolve the Kafka jars"
    return 1
  fi
  printf '%s\n' "$KAFKA_VERSION" > "$tmp/.kafka-version"
  rm -rf "$KAFKA_LIB_DIR"
  mv "$tmp" "$KAFKA_LIB_DIR"
  log "Kafka $KAFKA_VERSION jars: $(find "$KAFKA_LIB_DIR" -name '*.jar' | wc -l) jars installed"
}

# `docker compose config` validates docker-compose.yml without an engine, but Debian's docker
# client ships no compose v2 plugin; build the official one from the Go module proxy if missing.
COMPOSE_VERSION="${COMPOSE_VERSION:-v2.40.3}"
install_compose_plugin() {
  command -v docker >/dev/null 2>&1 || { log "docker client absent: compose check skipped"; return 0; }
  if docker compose version >/dev/null 2>&1; then
    log "docker compose: already present"
    return 0
  fi
  command -v go >/dev/null 2>&1 || { log "go not found: cannot build docker compose"; return 0; }
  log "docker compose $COMPOSE_VERSION: building the CLI plugin with go"
  local dir plugins="${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins"
  dir="$(go mod download -json "github.com/docker/compose/v2@$COMPOSE_VERSION" \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')"
  mkdir -p "$plugins"
  (cd "$dir" && CGO_ENABLED=0 go build -trimpath -o "$plugins/docker-compose" ./cmd)
  docker compose version >&2
}

if [ "${SKIP_APT:-0}" != 1 ]; then install_apt_packages; fi
if [ "${SKIP_KAFKA_JARS:-0}" != 1 ]; then install_kafka_jars; fi
if [ "${SKIP_COMPOSE:-0}" != 1 ]; then install_compose_plugin; fi
log "done"

#!/usr/bin/env bash
# Idempotent install of what the local services and tests need (no Docker):
#   * Debian packages: redis-server (+ redis-cli), kcat, prometheus, chromium + chromium-driver
#     (and a JRE / Maven only if `java` / `mvn` are missing); chromium is the browser the reviewer
#     app's tests drive, so no test ever downloads one
#   * the Apache Kafka 4.x broker jars, resolved from Maven Central by
#     scripts/kafka/pom.xml, into ${KAFKA_LIB_DIR:-${SERVICES_DIR:-<repo>/.services}/kafka/lib}
#   * the deploy checks' tools (scripts/check-deploy.sh, tests/unit/test_deploy_*.py), pinned, in
#     ${TOOLS_VENV:-<repo>/.venv-tools}/bin: kustomize, built with go from the Go module proxy, and
#     checkov, in that virtualenv of its own (its exact pins, e.g. packaging==23.2, clash with the
#     project's venv)
#
# Re-running is cheap: apt is skipped when the binaries exist, Maven is skipped
# when the jars for the requested Kafka version are already in place, and so are
# kustomize and checkov when the pinned versions are there.
#
# Env:
#   SERVICES_DIR      default <repo>/.services (relative paths are taken from the repo root)
#   KAFKA_LIB_DIR     default $SERVICES_DIR/kafka/lib
#   KAFKA_VERSION     default: the one in scripts/kafka/pom.xml
#   TOOLS_VENV        default <repo>/.venv-tools
#   KUSTOMIZE_VERSION, CHECKOV_VERSION  default: the pins below
#   SKIP_APT=1        do not touch apt packages
#   SKIP_KAFKA_JARS=1 do not fetch the Kafka jars
#   SKIP_COMPOSE=1    do not build the docker compose CLI plugin
#   SKIP_KUSTOMIZE=1  do not build kustomize
#   SKIP_CHECKOV=1    do not install checkov
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
  command -v chromium >/dev/null 2>&1 || pkgs+=(chromium)
  command -v chromedriver >/dev/null 2>&1 || pkgs+=(chromium-driver)
  command -v java >/dev/null 2>&1 || pkgs+=(openjdk-17-jre-headless)
  command -v mvn >/dev/null 2>&1 || pkgs+=(maven)
  if [ "${#pkgs[@]}" -eq 0 ]; then
    log "apt packages: already present (redis-server, redis-cli, kcat, prometheus, chromium, chromedriver, java, mvn)"
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

# The deploy checks' tools, in one folder: scripts/check-deploy.sh and the tests look there.
TOOLS_VENV="$(abspath "${TOOLS_VENV:-.venv-tools}")"
KUSTOMIZE_VERSION="${KUSTOMIZE_VERSION:-v5.8.2}"  # v5.8.3 needs Go 1.27
CHECKOV_VERSION="${CHECKOV_VERSION:-3.3.30}"

kustomize_present() {
  [ -x "$TOOLS_VENV/bin/kustomize" ] \
    && [ "$("$TOOLS_VENV/bin/kustomize" version 2>/dev/null)" = "$KUSTOMIZE_VERSION" ]
}

checkov_present() {
  [ -x "$TOOLS_VENV/bin/checkov" ] && [ "$("$TOOLS_VENV/bin/python" -c \
    'import importlib.metadata as m; print(m.version("checkov"))' 2>/dev/null)" = "$CHECKOV_VERSION" ]
}

# Creates the tools folder (it ignores itself in git) and takes its lock, so that concurrent
# installs into it are serialized.
lock_tools_dir() {
  mkdir -p "$TOOLS_VENV/bin"
  [ -f "$TOOLS_VENV/.gitignore" ] || printf '# made by scripts/install-system.sh\n*\n' > "$TOOLS_VENV/.gitignore"
  exec 8>"$TOOLS_VENV/.install.lock"
  flock 8
}

install_kustomize() {
  if kustomize_present; then
    log "kustomize $KUSTOMIZE_VERSION: already in $TOOLS_VENV/bin"
    return 0
  fi
  command -v go >/dev/null 2>&1 || { log "go not found: cannot build kustomize"; return 1; }
  lock_tools_dir
  if kustomize_present; then log "kustomize $KUSTOMIZE_VERSION: already in $TOOLS_VENV/bin"; return 0; fi
  log "kustomize $KUSTOMIZE_VERSION: building with go into $TOOLS_VENV/bin"
  GOBIN="$TOOLS_VENV/bin" CGO_ENABLED=0 \
    go install -trimpath "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
  kustomize_present || { log "kustomize: $TOOLS_VENV/bin/kustomize is not $KUSTOMIZE_VERSION"; return 1; }
}

install_checkov() {
  if checkov_present; then
    log "checkov $CHECKOV_VERSION: already in $TOOLS_VENV"
    return 0
  fi
  lock_tools_dir
  if checkov_present; then log "checkov $CHECKOV_VERSION: already in $TOOLS_VENV"; return 0; fi
  log "checkov $CHECKOV_VERSION: installing into the virtualenv $TOOLS_VENV"
  # python3 -m venv keeps what is already in the folder (kustomize).
  python3 -m venv "$TOOLS_VENV"
  PIP_DISABLE_PIP_VERSION_CHECK=1 "$TOOLS_VENV/bin/python" -m pip install -q "checkov==$CHECKOV_VERSION"
  checkov_present || { log "checkov: $TOOLS_VENV has no checkov $CHECKOV_VERSION"; return 1; }
}

if [ "${SKIP_APT:-0}" != 1 ]; then install_apt_packages; fi
if [ "${SKIP_KAFKA_JARS:-0}" != 1 ]; then install_kafka_jars; fi
if [ "${SKIP_COMPOSE:-0}" != 1 ]; then install_compose_plugin; fi
if [ "${SKIP_KUSTOMIZE:-0}" != 1 ]; then install_kustomize; fi
if [ "${SKIP_CHECKOV:-0}" != 1 ]; then install_checkov; fi
log "done"

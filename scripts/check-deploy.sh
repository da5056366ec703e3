#!/usr/bin/env bash
# The deploy files checked by real tools, offline (`make deploy-check`):
#
#   schemas     deploy/k8s/*.yaml: built-in kinds against the Kubernetes JSON schemas of
#               kubernetes-validate (strict), KEDA / Prometheus Operator resources against
#               models generated from their CRDs (scripts/validate_k8s.py)
#   kustomize   `kustomize build deploy/k8s`, and its output through the same schemas
#   compose     `docker compose config` (skipped, saying so, when no compose CLI is installed)
#   checkov     deploy/Dockerfile, docker-compose.yml, deploy/k8s (settings: .checkov.yaml)
#   pytest      tests/unit/test_deploy_*.py (they run the same tools)
#
# Every check runs, then the script exits 1 if any failed. Tools: kubernetes-validate and the
# CRD models are dev dependencies of the project venv (`make install`); kustomize and checkov
# are installed, pinned, into .venv-tools by scripts/install-system.sh, which this script runs
# for those two only (a no-op when they are in place).
#
# Env: VENV (default .venv), TOOLS_VENV (default .venv-tools)
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

VENV="${VENV:-.venv}"
export TOOLS_VENV="${TOOLS_VENV:-.venv-tools}"
PY="$VENV/bin/python"
TOOLS="$TOOLS_VENV/bin"

log() { printf '[check-deploy] %s\n' "$*"; }

[ -x "$PY" ] || { log "no project venv at $VENV: run make install"; exit 1; }
SKIP_APT=1 SKIP_KAFKA_JARS=1 SKIP_COMPOSE=1 bash scripts/install-system.sh \
  || { log "installing kustomize / checkov failed"; exit 1; }

failed=()
# step NAME COMMAND...: runs it, prints its outcome and wall time.
step() {
  local name="$1" start end rc
  shift
  log "$name: $*"
  start=$EPOCHREALTIME
  "$@"
  rc=$?
  end=$EPOCHREALTIME
  if [ "$rc" -eq 0 ]; then
    log "$name: ok ($(awk "BEGIN { printf \"%.1f\", $end - $start }")s)"
  else
    log "$name: FAILED (exit $rc, $(awk "BEGIN { printf \"%.1f\", $end - $start }")s)"
    failed+=("$name")
  fi
}

manifests=(deploy/k8s/*.yaml)

kustomize_validated() {
  local out
  out="$("$TOOLS/kustomize" build deploy/k8s)" || return 1
  printf '%s\n' "$out" | "$PY" scripts/validate_k8s.py --quiet -
}

compose_config() {
  if ! docker compose version >/dev/null 2>&1; then
    log "compose: no docker compose CLI (scripts/install-system.sh builds it): not checked"
    return 0
  fi
  docker compose -f docker-compose.yml config -q \
    && docker compose -f docker-compose.yml --profile demo config -q
}

checkov_args=()
for file in deploy/Dockerfile docker-compose.yml "${manifests[@]}"; do
  checkov_args+=(--file "$file")
done

step schemas "$PY" scripts/validate_k8s.py "${manifests[@]}"
step kustomize kustomize_validated
step compose compose_config
step checkov "$TOOLS/checkov" --config-file .checkov.yaml --quiet "${checkov_args[@]}"
step pytest "$PY" -m pytest -q tests/unit/test_deploy_*.py

if [ "${#failed[@]}" -gt 0 ]; then
  log "FAILED: ${failed[*]}"
  exit 1
fi
log "all deploy checks passed"

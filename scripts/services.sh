#!/usr/bin/env bash
# shellcheck disable=SC2317  # functions are dispatched indirectly ("${svc}_${action}_locked")
# Local services for development, tests and benchmarks, without Docker:
#   * a single-node Apache Kafka 4.x broker in KRaft mode (combined
#     broker+controller), run from the jars installed by scripts/install-system.sh
#   * redis-server
#   * redis-cluster (only when named): 3 primaries + 3 replicas of redis-server in cluster
#     mode, with AOF persistence, for the sharded dedup's tests and bench
#
# Usage: scripts/services.sh {up|down|status|clean} [kafka|redis|redis-cluster|all]
#   (default: all = kafka + redis; the cluster is started only when named)
#   up      start (no-op if already running) and wait until ready
#   down    graceful stop (SIGTERM), SIGKILL after a timeout; no-op if not running
#   status  print state; exit 0 only if every selected service is up
#   clean   down + delete the selected services' data and logs (not the jars)
#
# Env (all optional):
#   SERVICES_DIR            state dir (data, logs, pids, generated config);
#                           default <repo>/.services, relative paths are from the repo root
#   KAFKA_PORT              9092   client listener on localhost
#   KAFKA_CONTROLLER_PORT   9093   KRaft controller listener on localhost
#   REDIS_PORT              6379
#   KAFKA_LIB_DIR           jars; default $SERVICES_DIR/kafka/lib, falling back to
#                           <repo>/.services/kafka/lib (so parallel instances share jars)
#   KAFKA_HEAP              JVM heap flags, default "-Xms512m -Xmx1g"
#   KAFKA_JVM_OPTS          extra JVM flags
#   KAFKA_NUM_PARTITIONS    default partitions for new topics (4)
#   KAFKA_OFFSETS_PARTITIONS  partitions of __consumer_offsets (4; fewer = faster first group join)
#   KAFKA_EXTRA_CONFIG      extra server.properties lines (newline separated); they win
#   KAFKA_START_TIMEOUT     seconds to wait for readiness (120)
#   REDIS_START_TIMEOUT     (20)
#   STOP_TIMEOUT            seconds between SIGTERM and SIGKILL (30)
#   REDIS_APPENDONLY        yes|no (no)
#   REDIS_SAVE              RDB save points, e.g. "60 1000"; default "" (no RDB snapshots)
#   REDIS_APPENDFSYNC       always|everysec|no (everysec), when REDIS_APPENDONLY=yes
#   REDIS_MAXMEMORY         e.g. 512mb (unset = no limit)
#   REDIS_CLUSTER_PORT      7000: the cluster's nodes listen on REDIS_CLUSTER_PORT..+5 and
#                           their cluster bus on each port + 10000
#   REDIS_CLUSTER_NODE_TIMEOUT  ms before a silent primary is failed over to its replica (2000)
#   REDIS_CLUSTER_START_TIMEOUT (60)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
abspath() { case "$1" in /*) printf '%s\n' "$1" ;; *) printf '%s\n' "$ROOT/$1" ;; esac; }

SERVICES_DIR="$(abspath "${SERVICES_DIR:-.services}")"
KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
REDIS_PORT="${REDIS_PORT:-6379}"
KAFKA_HEAP="${KAFKA_HEAP:--Xms512m -Xmx1g}"
KAFKA_JVM_OPTS="${KAFKA_JVM_OPTS:-}"
KAFKA_NUM_PARTITIONS="${KAFKA_NUM_PARTITIONS:-4}"
KAFKA_OFFSETS_PARTITIONS="${KAFKA_OFFSETS_PARTITIONS:-4}"
KAFKA_START_TIMEOUT="${KAFKA_START_TIMEOUT:-120}"
REDIS_START_TIMEOUT="${REDIS_START_TIMEOUT:-20}"
STOP_TIMEOUT="${STOP_TIMEOUT:-30}"
LOCK_TIMEOUT="${LOCK_TIMEOUT:-300}"
REDIS_APPENDONLY="${REDIS_APPENDONLY:-no}"
REDIS_SAVE="${REDIS_SAVE:-}"
REDIS_APPENDFSYNC="${REDIS_APPENDFSYNC:-everysec}"
REDIS_CLUSTER_PORT="${REDIS_CLUSTER_PORT:-7000}"
REDIS_CLUSTER_NODE_TIMEOUT="${REDIS_CLUSTER_NODE_TIMEOUT:-2000}"
REDIS_CLUSTER_START_TIMEOUT="${REDIS_CLUSTER_START_TIMEOUT:-60}"

KAFKA_DIR="$SERVICES_DIR/kafka"
KAFKA_DATA="$KAFKA_DIR/data"
KAFKA_LOGS="$KAFKA_DIR/logs"
KAFKA_PROPS="$KAFKA_DIR/server.properties"
KAFKA_LOG4J="$KAFKA_DIR/log4j2.properties"
KAFKA_PIDFILE="$KAFKA_DIR/kafka.pid"
KAFKA_OUT="$KAFKA_LOGS/kafka.out"

REDIS_DIR="$SERVICES_DIR/redis"
REDIS_DATA="$REDIS_DIR/data"
REDIS_CONF="$REDIS_DIR/redis.conf"
REDIS_PIDFILE="$REDIS_DIR/redis.pid"
REDIS_LOG="$REDIS_DIR/redis.log"

RCLUSTER_DIR="$SERVICES_DIR/redis-cluster"
RCLUSTER_PORTS=()
for ((i = 0; i < 6; i++)); do RCLUSTER_PORTS+=($((REDIS_CLUSTER_PORT + i))); done

if [ -n "${KAFKA_LIB_DIR:-}" ]; then
  KAFKA_LIB_DIR="$(abspath "$KAFKA_LIB_DIR")"
elif [ -d "$KAFKA_DIR/lib" ]; then
  KAFKA_LIB_DIR="$KAFKA_DIR/lib"
else
  KAFKA_LIB_DIR="$ROOT/.services/kafka/lib"
fi

log() { printf '[services] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# --- helpers ---------------------------------------------------------------

# port_open PORT: something accepts TCP connections on 127.0.0.1:PORT
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# pid_matches PID PATTERN: process PID is alive and its command line contains PATTERN
pid_matches() {
  local pid="$1" pattern="$2" cmd
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
  cmd="$(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null)" || return 1
  [[ "$cmd" == *"$pattern"* ]]
}

read_pid() { { tr -dc '0-9' < "$1"; } 2>/dev/null || true; }

# stop_pid NAME PID: SIGTERM, wait up to STOP_TIMEOUT, then SIGKILL
stop_pid() {
  local name="$1" pid="$2" waited=0
  kill -TERM "$pid" 2>/dev/null || return 0
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$waited" -ge $((STOP_TIMEOUT * 10)) ]; then
      log "$name (pid $pid) did not stop within ${STOP_TIMEOUT}s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.2
      break
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
}

# with_lock FILE CMD...: serialize up/down of one service instance
with_lock() {
  local lockfile="$1"; shift
  mkdir -p "$(dirname "$lockfile")"
  (
    if ! flock -w "$LOCK_TIMEOUT" 9; then
      die "timed out after ${LOCK_TIMEOUT}s waiting for $lockfile (another up/down running?)"
    fi
    "$@"
  ) 9>"$lockfile"
}

# --- Kafka -----------------------------------------------------------------

kafka_pid() {
  local pid
  pid="$(read_pid "$KAFKA_PIDFILE")"
  # The properties path is unique per SERVICES_DIR, so parallel instances never mix.
  if pid_matches "$pid" "$KAFKA_PROPS"; then printf '%s\n' "$pid"; fi
}

kafka_ready() {
  if command -v kcat >/dev/null 2>&1; then
    # A metadata request that lists at least one (unfenced) broker.
    kcat -L -b "localhost:$KAFKA_PORT" -m 3 -X socket.connection.setup.timeout.ms=2000 \
      2>/dev/null | grep -Eq '^ *[1-9][0-9]* brokers:'
  else
    port_open "$KAFKA_PORT" && grep -q 'Kafka Server started' "$KAFKA_LOGS/server.log" 2>/dev/null
  fi
}

kafka_write_config() {
  mkdir -p "$KAFKA_DATA" "$KAFKA_LOGS"
  cat > "$KAFKA_PROPS" <<EOF
# Generated by scripts/services.sh on every 'up': edit the script (or use env), not this file.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://localhost:$KAFKA_PORT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
log.dirs=$KAFKA_DATA
num.partitions=$KAFKA_NUM_PARTITIONS
default.replication.factor=1
min.insync.replicas=1
auto.create.topics.enable=false
delete.topic.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=$KAFKA_OFFSETS_PARTITIONS
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=$KAFKA_OFFSETS_PARTITIONS
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
num.network.threads=3
num.io.threads=4
num.recovery.threads.per.data.dir=1
log.retention.hours=24
log.segment.bytes=268435456
log.retention.check.interval.ms=300000
EOF
  if [ -n "${KAFKA_EXTRA_CONFIG:-}" ]; then
    printf '# KAFKA_EXTRA_CONFIG\n%s\n' "$KAFKA_EXTRA_CONFIG" >> "$KAFKA_PROPS"
  fi
  cat > "$KAFKA_LOG4J" <<EOF
# Generated by scripts/services.sh
status = warn
name = kafka
appender.server.type = RollingFile
appender.server.name = server
appender.server.fileName = $KAFKA_LOGS/server.log
appender.server.filePattern = $KAFKA_LOGS/server.log.%i
appender.server.layout.type = PatternLayout
appender.server.layout.pattern = [%d] %p %m (%c)%n
appender.server.policies.type = Policies
appender.server.policies.size.type = SizeBasedTriggeringPolicy
appender.server.policies.size.size = 50MB
appender.server.strategy.type = DefaultRolloverStrategy
appender.server.strategy.max = 3
rootLogger.level = INFO
rootLogger.appenderRef.server.ref = server
logger.request.name = kafka.request.logger
logger.request.level = WARN
EOF
}

# KAFKA_CMD: the java command line (without main class) shared by format and start.
kafka_cmd() {
  # shellcheck disable=SC2206  # KAFKA_HEAP / KAFKA_JVM_OPTS are whitespace-separated flag lists
  KAFKA_CMD=(java $KAFKA_HEAP
    -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35
    -XX:+ExplicitGCInvokesConcurrent
    -Djava.awt.headless=true
    "-Dlog4j2.configurationFile=$KAFKA_LOG4J" "-Dkafka.logs.dir=$KAFKA_LOGS"
    $KAFKA_JVM_OPTS
    -cp "$KAFKA_LIB_DIR/*")
}

kafka_up_locked() {
  local pid
  pid="$(kafka_pid)"
  if [ -n "$pid" ]; then
    if kafka_ready; then
      log "kafka: already up (pid $pid, localhost:$KAFKA_PORT)"
      return 0
    fi
    log "kafka: process $pid running, waiting for readiness"
  else
    compgen -G "$KAFKA_LIB_DIR/kafka_2.13-*.jar" >/dev/null \
      || die "kafka jars not found in $KAFKA_LIB_DIR: run scripts/install-system.sh"
    command -v java >/dev/null 2>&1 || die "java not found: run scripts/install-system.sh"
    local p
    for p in "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT"; do
      port_open "$p" && die "kafka: port $p is already in use by another process"
    done
    kafka_write_config
    kafka_cmd
    if [ ! -f "$KAFKA_DATA/meta.properties" ]; then
      local cluster_id
      # A random Kafka Uuid: 16 bytes, URL-safe base64 without padding (22 chars).
      cluster_id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
      log "kafka: formatting $KAFKA_DATA (cluster id $cluster_id)"
      if ! "${KAFKA_CMD[@]}" kafka.tools.StorageTool format --ignore-formatted \
             --cluster-id="$cluster_id" -c "$KAFKA_PROPS" > "$KAFKA_LOGS/format.out" 2>&1; then
        cat "$KAFKA_LOGS/format.out" >&2
        die "kafka: storage format failed (see $KAFKA_LOGS/format.out)"
      fi
    fi
    rm -f "$KAFKA_PIDFILE"
    # Detached: own session, no inherited stdio (callers capturing our output must
    # not hang) and not the lock fd 9. The child writes its own pid, then execs the JVM.
    # shellcheck disable=SC2016  # $$ is expanded by the child shell
    setsid bash -c 'echo $$ > "$1"; shift; exec "$@"' _ "$KAFKA_PIDFILE" \
      "${KAFKA_CMD[@]}" kafka.Kafka "$KAFKA_PROPS" < /dev/null > "$KAFKA_OUT" 2>&1 9>&- &
    log "kafka: starting on localhost:$KAFKA_PORT (controller $KAFKA_CONTROLLER_PORT), logs in $KAFKA_LOGS"
  fi

  local start=$SECONDS
  while ! kafka_ready; do
    if [ $((SECONDS - start)) -ge "$KAFKA_START_TIMEOUT" ]; then
      log "kafka: not ready after ${KAFKA_START_TIMEOUT}s; logs: $KAFKA_LOGS/server.log, $KAFKA_OUT"
      tail -n 30 "$KAFKA_LOGS/server.log" "$KAFKA_OUT" >&2 2>/dev/null || true
      log "kafka: process $(kafka_pid) left running; stop it with: $0 down kafka"
      return 1
    fi
    # The pid file is written by the child right after the fork.
    if [ $((SECONDS - start)) -ge 2 ] && [ -z "$(kafka_pid)" ]; then
      log "kafka: process exited during startup; logs: $KAFKA_LOGS/server.log, $KAFKA_OUT"
      tail -n 30 "$KAFKA_LOGS/server.log" "$KAFKA_OUT" >&2 2>/dev/null || true
      return 1
    fi
    sleep 0.25
  done
  log "kafka: up (pid $(kafka_pid), localhost:$KAFKA_PORT) after $((SECONDS - start))s"
}

kafka_down_locked() { svc_down_locked kafka "$KAFKA_PIDFILE"; }
kafka_status() {
  svc_status kafka "localhost:$KAFKA_PORT, data $KAFKA_DATA" "starting or unhealthy" "logs $KAFKA_LOGS"
}
kafka_clean_locked() {
  svc_clean_locked kafka "$KAFKA_PIDFILE" "$KAFKA_DATA" "$KAFKA_LOGS" "$KAFKA_PROPS" "$KAFKA_LOG4J"
}

# --- Redis -----------------------------------------------------------------

redis_pid() {
  local pid
  pid="$(read_pid "$REDIS_PIDFILE")"
  if pid_matches "$pid" "redis-server"; then printf '%s\n' "$pid"; fi
}

redis_ready() {
  [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = "PONG" ]
}

redis_write_config() {
  mkdir -p "$REDIS_DATA"
  {
    echo "# Generated by scripts/services.sh on every 'up'."
    echo "port $REDIS_PORT"
    echo "bind 127.0.0.1"
    echo "protected-mode yes"
    echo "daemonize yes"
    echo "pidfile $REDIS_PIDFILE"
    echo "logfile $REDIS_LOG"
    echo "dir $REDIS_DATA"
    echo "save \"$REDIS_SAVE\""
    echo "appendonly $REDIS_APPENDONLY"
    echo "appendfsync $REDIS_APPENDFSYNC"
    if [ -n "${REDIS_MAXMEMORY:-}" ]; then echo "maxmemory $REDIS_MAXMEMORY"; fi
  } > "$REDIS_CONF"
}

redis_up_locked() {
  local pid
  pid="$(redis_pid)"
  if [ -z "$pid" ]; then
    command -v redis-server >/dev/null 2>&1 || die "redis-server not found: run scripts/install-system.sh"
    port_open "$REDIS_PORT" && die "redis: port $REDIS_PORT is already in use by another process"
    redis_write_config
    rm -f "$REDIS_PIDFILE"
    redis-server "$REDIS_CONF" < /dev/null > /dev/null 2>&1 9>&- \
      || die "redis: redis-server failed to start; log: $REDIS_LOG"
  fi
  local start=$SECONDS
  while ! redis_ready; do
    if [ $((SECONDS - start)) -ge "$REDIS_START_TIMEOUT" ]; then
      log "redis: not ready after ${REDIS_START_TIMEOUT}s; log: $REDIS_LOG"
      tail -n 20 "$REDIS_LOG" >&2 2>/dev/null || true
      return 1
    fi
    sleep 0.1
  done
  log "redis: up (pid $(redis_pid), localhost:$REDIS_PORT)"
}

redis_down_locked() { svc_down_locked redis "$REDIS_PIDFILE"; }
redis_status() { svc_status redis "localhost:$REDIS_PORT" "unhealthy" "log $REDIS_LOG"; }
redis_clean_locked() {
  svc_clean_locked redis "$REDIS_PIDFILE" "$REDIS_DATA" "$REDIS_LOG" "$REDIS_CONF"
}

# --- Redis Cluster (3 primaries + 3 replicas) ----------------------------------
# One redis-server per port, each with its own dir (nodes.conf, AOF, pid, log). The cluster is
# created once (redis-cli --cluster create); after a restart the nodes rejoin from nodes.conf.

rcluster_node_dir() { printf '%s\n' "$RCLUSTER_DIR/$1"; }

rcluster_node_pid() {  # PORT
  local pid
  pid="$(read_pid "$(rcluster_node_dir "$1")/redis.pid")"
  # The process title is "redis-server 127.0.0.1:PORT [cluster]": the space ends the port.
  if pid_matches "$pid" "redis-server 127.0.0.1:$1 "; then printf '%s\n' "$pid"; fi
}

# redis_cluster_pid: the pids of the running nodes, one a line (empty when none runs)
redis_cluster_pid() {
  local port
  for port in "${RCLUSTER_PORTS[@]}"; do rcluster_node_pid "$port"; done
}

rcluster_info() { redis-cli -h 127.0.0.1 -p "$1" cluster info 2>/dev/null | tr -d '\r'; }

# redis_cluster_ready: every node answers, says the cluster is ok with all slots served by 3
# primaries, and sees every node, 3 of them replicas (roles spread by gossip after the create)
redis_cluster_ready() {
  local port info replicas
  for port in "${RCLUSTER_PORTS[@]}"; do
    info="$(rcluster_info "$port")"
    grep -qx 'cluster_state:ok' <<< "$info" || return 1
    grep -qx 'cluster_slots_ok:16384' <<< "$info" || return 1
    grep -qx 'cluster_known_nodes:6' <<< "$info" || return 1
    grep -qx 'cluster_size:3' <<< "$info" || return 1
    replicas="$(redis-cli -h 127.0.0.1 -p "$port" cluster nodes 2>/dev/null \
      | awk '$3 ~ /slave/ && $3 !~ /fail/ && $8 == "connected"' | grep -c . || true)"
    [ "$replicas" -eq 3 ] || return 1
  done
}

rcluster_write_config() {  # PORT
  local port="$1" dir
  dir="$(rcluster_node_dir "$port")"
  mkdir -p "$dir"
  {
    echo "# Generated by scripts/services.sh on every 'up'."
    echo "port $port"
    echo "bind 127.0.0.1"
    echo "protected-mode yes"
    echo "daemonize yes"
    echo "pidfile $dir/redis.pid"
    echo "logfile $dir/redis.log"
    echo "dir $dir"
    echo "cluster-enabled yes"
    echo "cluster-config-file nodes.conf"
    echo "cluster-node-timeout $REDIS_CLUSTER_NODE_TIMEOUT"
    echo "save \"\""
    echo "appendonly yes"
    echo "appendfsync everysec"
    if [ -n "${REDIS_MAXMEMORY:-}" ]; then echo "maxmemory $REDIS_MAXMEMORY"; fi
  } > "$dir/redis.conf"
}

redis_cluster_up_locked() {
  command -v redis-server >/dev/null 2>&1 || die "redis-server not found: run scripts/install-system.sh"
  local port dir p
  for port in "${RCLUSTER_PORTS[@]}"; do
    [ -n "$(rcluster_node_pid "$port")" ] && continue
    for p in "$port" $((port + 10000)); do
      port_open "$p" && die "redis-cluster: port $p is already in use by another process"
    done
    rcluster_write_config "$port"
    dir="$(rcluster_node_dir "$port")"
    rm -f "$dir/redis.pid"
    redis-server "$dir/redis.conf" < /dev/null > /dev/null 2>&1 9>&- \
      || die "redis-cluster: redis-server on port $port failed to start; log: $dir/redis.log"
  done
  local start=$SECONDS
  for port in "${RCLUSTER_PORTS[@]}"; do
    until [ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" = "PONG" ]; do
      if [ $((SECONDS - start)) -ge "$REDIS_CLUSTER_START_TIMEOUT" ]; then
        log "redis-cluster: node $port not answering after ${REDIS_CLUSTER_START_TIMEOUT}s"
        tail -n 20 "$(rcluster_node_dir "$port")/redis.log" >&2 2>/dev/null || true
        return 1
      fi
      sleep 0.1
    done
  done
  # A node that knows only itself has never joined: create the cluster (first 'up' only;
  # after a restart the nodes find each other again from their nodes.conf).
  if rcluster_info "${RCLUSTER_PORTS[0]}" | grep -qx 'cluster_known_nodes:1'; then
    local addrs=()
    for port in "${RCLUSTER_PORTS[@]}"; do addrs+=("127.0.0.1:$port"); done
    log "redis-cluster: creating the cluster on ${addrs[*]}"
    if ! redis-cli --cluster create "${addrs[@]}" --cluster-replicas 1 --cluster-yes \
           < /dev/null > "$RCLUSTER_DIR/create.out" 2>&1; then
      cat "$RCLUSTER_DIR/create.out" >&2
      die "redis-cluster: redis-cli --cluster create failed (see $RCLUSTER_DIR/create.out)"
    fi
  fi
  while ! redis_cluster_ready; do
    if [ $((SECONDS - start)) -ge "$REDIS_CLUSTER_START_TIMEOUT" ]; then
      log "redis-cluster: not ok after ${REDIS_CLUSTER_START_TIMEOUT}s; logs: $RCLUSTER_DIR/*/redis.log"
      for port in "${RCLUSTER_PORTS[@]}"; do
        echo "$port: $(rcluster_info "$port" | head -n 1)" >&2
      done
      return 1
    fi
    sleep 0.2
  done
  log "redis-cluster: up (127.0.0.1:${RCLUSTER_PORTS[0]}..${RCLUSTER_PORTS[5]}) after $((SECONDS - start))s"
}

redis_cluster_down_locked() {
  local port pid stopped=0
  for port in "${RCLUSTER_PORTS[@]}"; do
    pid="$(rcluster_node_pid "$port")"
    if [ -n "$pid" ]; then
      stop_pid "redis-cluster node $port" "$pid"
      stopped=$((stopped + 1))
    fi
    rm -f "$(rcluster_node_dir "$port")/redis.pid"
  done
  if [ "$stopped" -gt 0 ]; then log "redis-cluster: down"; else log "redis-cluster: already down"; fi
}

redis_cluster_status() {
  local n
  n="$(redis_cluster_pid | grep -c . || true)"
  if [ "$n" -eq 6 ] && redis_cluster_ready; then
    echo "redis-cluster: up (6 nodes, 127.0.0.1:${RCLUSTER_PORTS[0]}..${RCLUSTER_PORTS[5]})"
  elif [ "$n" -gt 0 ]; then
    echo "redis-cluster: unhealthy ($n of 6 nodes running, logs $RCLUSTER_DIR/*/redis.log)"
    return 1
  else
    echo "redis-cluster: down"; return 1
  fi
}

redis_cluster_clean_locked() {
  redis_cluster_down_locked
  local port
  for port in "${RCLUSTER_PORTS[@]}"; do rm -rf "$(rcluster_node_dir "$port")"; done
  rm -f "$RCLUSTER_DIR/create.out"
  log "redis-cluster: data and logs removed"
}

# --- the same steps for either service (NAME_pid and NAME_ready answer for it) ----------

svc_down_locked() {  # NAME PIDFILE
  local name="$1" pidfile="$2" pid
  pid="$("${name}_pid")"
  if [ -z "$pid" ]; then
    rm -f "$pidfile"
    log "$name: already down"
    return 0
  fi
  log "$name: stopping (pid $pid)"
  stop_pid "$name" "$pid"
  rm -f "$pidfile"
  log "$name: down"
}

svc_status() {  # NAME UP_DETAIL NOT_READY_STATE NOT_READY_DETAIL
  local name="$1" pid
  pid="$("${name}_pid")"
  if [ -n "$pid" ] && "${name}_ready"; then
    echo "$name: up (pid $pid, $2)"
  elif [ -n "$pid" ]; then
    echo "$name: $3 (pid $pid, $4)"; return 1
  else
    echo "$name: down"; return 1
  fi
}

svc_clean_locked() {  # NAME PIDFILE PATH...
  local name="$1" pidfile="$2"
  shift 2
  svc_down_locked "$name" "$pidfile"
  rm -rf "$@"
  log "$name: data and logs removed"
}

# --- main ------------------------------------------------------------------

usage() { echo "usage: $0 {up|down|status|clean} [kafka|redis|redis-cluster|all]" >&2; exit 2; }

action="${1:-}"
which="${2:-all}"
case "$which" in
  all) services=(redis kafka) ;;
  kafka|redis|redis-cluster) services=("$which") ;;
  *) usage ;;
esac

rc=0
case "$action" in
  up|down|clean)
    if [ "$action" = down ]; then
      # stop in reverse order
      for ((i = ${#services[@]} - 1; i >= 0; i--)); do
        s="${services[$i]}"
        with_lock "$SERVICES_DIR/$s/.ctl.lock" "${s//-/_}_down_locked" || rc=1
      done
    else
      for s in "${services[@]}"; do
        with_lock "$SERVICES_DIR/$s/.ctl.lock" "${s//-/_}_${action}_locked" || rc=1
      done
    fi
    ;;
  status)
    for s in "${services[@]}"; do "${s//-/_}_status" || rc=1; done
    ;;
  *) usage ;;
esac
exit "$rc"

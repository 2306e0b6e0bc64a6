#!/usr/bin/env bash
# A standalone Apache Flink session cluster (one JobManager, TaskManagers) on loopback, from the jars the job's
# Maven build gathers (flink/target/lib: Flink is not served as a distribution here). State under .services/flink/.
#   infra/flink.sh start            build the job if needed, start the JobManager and one TaskManager
#   infra/flink.sh taskmanager      start one more TaskManager (after one was killed: the job recovers on it)
#   infra/flink.sh stop | status
# Ports: TICKWISE_FLINK_PORT (REST, default 18081), TICKWISE_FLINK_RPC_PORT (default 16123);
# slots per TaskManager: TICKWISE_FLINK_SLOTS (default 2).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
state="$root/.services/flink"
rest_port="${TICKWISE_FLINK_PORT:-18081}"
rpc_port="${TICKWISE_FLINK_RPC_PORT:-16123}"
slots="${TICKWISE_FLINK_SLOTS:-2}"
lib="$root/flink/target/lib"
plugins="$root/flink/target/plugins"  # file systems Flink loads as plugins (S3)
log4j="$root/flink/log4j2.properties"
mkdir -p "$state/conf" "$state/log"

log() { echo "[flink] $*" >&2; }

ensure_lib() {
  if [ ! -f "$lib/.complete" ] || [ ! -f "$root/flink/target/tickwise-flink.jar" ] || [ ! -d "$plugins/s3-fs-hadoop" ]; then
    command -v mvn >/dev/null || { log "Maven (mvn) is needed to build the Flink job and gather Flink's jars"; exit 1; }
    log "building the Flink job and gathering Flink's jars (flink/pom.xml)"
    rm -rf "$lib"
    mvn -q -B -f "$root/flink/pom.xml" package
    touch "$lib/.complete"
  fi
}

write_conf() {
  cat > "$state/conf/config.yaml" <<YAML
jobmanager:
  rpc: {address: 127.0.0.1, port: $rpc_port}
  bind-host: 127.0.0.1
  memory: {process: {size: 1024m}}
taskmanager:
  bind-host: 127.0.0.1
  host: 127.0.0.1
  numberOfTaskSlots: $slots
  memory: {process: {size: 1536m}}
rest: {address: 127.0.0.1, bind-address: 127.0.0.1, port: $rest_port}
heartbeat: {interval: 2000, timeout: 8000}
execution:
  checkpointing:
    dir: file://$state/checkpoints
    savepoint-dir: file://$state/savepoints
parallelism: {default: 1}
s3:
  endpoint: ${TICKWISE_S3_ENDPOINT:-http://127.0.0.1:${TICKWISE_S3_PORT:-19000}}
  path.style.access: true
  directory.marker.retention: keep  # no bulk delete after each write (s3proxy answers it only after 30 s)
  access-key: ${AWS_ACCESS_KEY_ID:-tickwise}
  secret-key: ${AWS_SECRET_ACCESS_KEY:-tickwise}
YAML
}

flink_java() { java --add-opens=java.base/java.nio=ALL-UNNAMED -Dlog4j2.configurationFile="$log4j" -cp "$lib/*" "$@"; }

# the JVM options and dynamic properties Flink's own scripts compute from the config (BashJavaUtils)
resource_params() {
  flink_java org.apache.flink.runtime.util.bash.BashJavaUtils "$1" --configDir "$state/conf" 2>/dev/null \
    | sed -n 's/^BASH_JAVA_UTILS_EXEC_RESULT://p'
}

answers() { curl -sf "http://127.0.0.1:$rest_port/overview" >/dev/null 2>&1; }

taskmanagers() { curl -sf "http://127.0.0.1:$rest_port/overview" | sed -n 's/.*"taskmanagers":\([0-9]*\).*/\1/p'; }

start_jobmanager() {
  if answers; then log "jobmanager already up on $rest_port"; return; fi
  local p; mapfile -t p < <(resource_params GET_JM_RESOURCE_PARAMS)
  # shellcheck disable=SC2086
  FLINK_PLUGINS_DIR="$plugins" nohup java --add-opens=java.base/java.nio=ALL-UNNAMED ${p[0]} -Dlog4j2.configurationFile="$log4j" -cp "$lib/*" \
    org.apache.flink.runtime.entrypoint.StandaloneSessionClusterEntrypoint --configDir "$state/conf" ${p[1]} \
    >"$state/log/jobmanager.out" 2>&1 &
  echo $! > "$state/jobmanager.pid"
  for _ in $(seq 60); do
    answers && { log "jobmanager up: REST http://127.0.0.1:$rest_port"; return; }
    kill -0 "$(cat "$state/jobmanager.pid")" 2>/dev/null || { log "jobmanager exited; see $state/log/jobmanager.out"; tail -20 "$state/log/jobmanager.out" >&2; exit 1; }
    sleep 0.5
  done
  log "jobmanager did not answer within 30 s; see $state/log/jobmanager.out"; exit 1
}

start_taskmanager() {
  local id; id="tm-$(date +%s%N)"
  local p; mapfile -t p < <(resource_params GET_TM_RESOURCE_PARAMS)
  # shellcheck disable=SC2086
  FLINK_PLUGINS_DIR="$plugins" nohup java --add-opens=java.base/java.nio=ALL-UNNAMED ${p[0]} -Dlog4j2.configurationFile="$log4j" -cp "$lib/*" \
    org.apache.flink.runtime.taskexecutor.TaskManagerRunner --configDir "$state/conf" ${p[1]} \
    -D "taskmanager.resource-id=$id" >"$state/log/$id.out" 2>&1 &
  echo $! > "$state/taskmanager-$id.pid"
  for _ in $(seq 60); do
    curl -sf "http://127.0.0.1:$rest_port/taskmanagers" | grep -q "\"$id\"" && { log "taskmanager $id up ($slots slots)"; return; }
    kill -0 "$(cat "$state/taskmanager-$id.pid")" 2>/dev/null || { log "taskmanager exited; see $state/log/$id.out"; tail -20 "$state/log/$id.out" >&2; exit 1; }
    sleep 0.5
  done
  log "taskmanager $id did not register within 30 s; see $state/log/$id.out"; exit 1
}

stop_pid() {
  local f="$1" pid; pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"; for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.3; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

stop_all() {
  for f in "$state"/taskmanager-*.pid; do [ -f "$f" ] && stop_pid "$f"; done
  if [ -f "$state/jobmanager.pid" ]; then stop_pid "$state/jobmanager.pid"; log "flink stopped"; fi
}

case "${1:-}" in
  start) ensure_lib; write_conf; start_jobmanager
         [ "$(taskmanagers)" -gt 0 ] 2>/dev/null || start_taskmanager
         echo "TICKWISE_FLINK_URL=http://127.0.0.1:$rest_port" ;;
  taskmanager) start_taskmanager ;;
  stop) stop_all ;;
  status) answers && echo "flink: up on $rest_port, $(taskmanagers) taskmanager(s)" || echo "flink: down" ;;
  *) echo "usage: $0 start|taskmanager|stop|status" >&2; exit 2 ;;
esac

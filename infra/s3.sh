#!/usr/bin/env bash
# A local S3 server for the lake on S3: s3proxy (Maven Central) over a folder under .services/s3, on loopback.
#   infra/s3.sh start|stop|status
# Port: TICKWISE_S3_PORT (default 19000). The bucket `tickwise` exists from the start. Clients use path-style
# requests to http://127.0.0.1:PORT with any keys (the server does not check signatures: loopback only).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
state="$root/.services/s3"
port="${TICKWISE_S3_PORT:-19000}"
lib="$here/s3/lib"
mkdir -p "$state/data/tickwise"

log() { echo "[s3] $*" >&2; }

ensure_jars() {
  if [ ! -f "$lib/.complete" ]; then
    command -v mvn >/dev/null || { log "Maven (mvn) is needed to fetch s3proxy"; exit 1; }
    log "fetching s3proxy from Maven Central (infra/s3/pom.xml)"
    rm -rf "$lib"
    mvn -q -B -f "$here/s3/pom.xml" dependency:copy-dependencies -DoutputDirectory=lib -DincludeScope=runtime
    touch "$lib/.complete"
  fi
}

answers() { curl -s -o /dev/null "http://127.0.0.1:$port/" 2>/dev/null; }

start() {
  if [ -f "$state/s3proxy.pid" ] && kill -0 "$(cat "$state/s3proxy.pid")" 2>/dev/null; then log "s3 already up on $port"; return; fi
  cat > "$state/s3proxy.conf" <<CONF
s3proxy.endpoint=http://127.0.0.1:$port
s3proxy.authorization=none
jclouds.provider=filesystem
jclouds.filesystem.basedir=$state/data
CONF
  nohup java -Xms64m -Xmx384m -Dlogback.configurationFile="$here/s3/logback.xml" -cp "$lib/*" org.gaul.s3proxy.Main --properties "$state/s3proxy.conf" \
    >"$state/s3proxy.out" 2>&1 &
  echo $! > "$state/s3proxy.pid"
  for _ in $(seq 60); do
    answers && { log "s3 up: http://127.0.0.1:$port (bucket tickwise)"; return; }
    kill -0 "$(cat "$state/s3proxy.pid")" 2>/dev/null || { log "s3proxy exited; see $state/s3proxy.out"; tail -20 "$state/s3proxy.out" >&2; exit 1; }
    sleep 0.5
  done
  log "s3proxy did not answer within 30 s; see $state/s3proxy.out"; exit 1
}

stop() {
  if [ -f "$state/s3proxy.pid" ]; then
    local pid; pid=$(cat "$state/s3proxy.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.3; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$state/s3proxy.pid"; log "s3 stopped"
  fi
}

case "${1:-}" in
  start) ensure_jars; start; echo "TICKWISE_S3_ENDPOINT=http://127.0.0.1:$port" ;;
  stop) stop ;;
  status) answers && echo "s3: up on $port" || echo "s3: down" ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac

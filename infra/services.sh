#!/usr/bin/env bash
# Local Redis, genuine Apache Kafka (single-node KRaft), an S3 server (s3proxy, infra/s3.sh) and an Apache Flink
# session cluster (infra/flink.sh) on loopback, non-default ports, state under .services/.
#   infra/services.sh start   install what is missing, start them all, wait until each answers
#   infra/services.sh stop    stop them all
#   infra/services.sh status
# Ports: TICKWISE_REDIS_PORT (default 6390), TICKWISE_KAFKA_PORT (default 19092; controller = port + 1),
# TICKWISE_S3_PORT (default 19000), TICKWISE_FLINK_PORT (REST, default 18081).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
state="$root/.services"
redis_port="${TICKWISE_REDIS_PORT:-6390}"
kafka_port="${TICKWISE_KAFKA_PORT:-19092}"
ctrl_port=$((kafka_port + 1))
lib="$here/kafka/lib"
mkdir -p "$state"

log() { echo "[services] $*" >&2; }

ensure_redis() {
  if ! command -v redis-server >/dev/null 2>&1; then
    log "installing redis-server from Debian"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null) \
      || { log "could not install redis-server (apt-get failed)"; exit 1; }
  fi
}

ensure_kafka_jars() {
  if [ ! -f "$lib/.complete" ]; then
    command -v mvn >/dev/null || { log "Maven (mvn) is needed to fetch the Kafka jars"; exit 1; }
    log "fetching Apache Kafka jars from Maven Central (infra/kafka/pom.xml)"
    rm -rf "$lib"
    mvn -q -B -f "$here/kafka/pom.xml" dependency:copy-dependencies -DoutputDirectory=lib -DincludeScope=runtime
    touch "$lib/.complete"
  fi
}

kafka_java() { java -Xms256m -Xmx768m -Dlog4j2.configurationFile="$here/kafka/log4j2.yaml" -cp "$lib/*" "$@"; }

start_redis() {
  if redis-cli -p "$redis_port" ping >/dev/null 2>&1; then log "redis already up on $redis_port"; return; fi
  redis-server --daemonize yes --bind 127.0.0.1 --port "$redis_port" --save "" --appendonly no \
    --pidfile "$state/redis.pid" --logfile "$state/redis.log" --dir "$state"
  for _ in $(seq 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && { log "redis up on 127.0.0.1:$redis_port"; return; }; sleep 0.1; done
  log "redis did not answer on $redis_port; see $state/redis.log"; exit 1
}

kafka_answers() {
  (exec 3<>"/dev/tcp/127.0.0.1/$kafka_port") 2>/dev/null || return 1
  kafka_java org.apache.kafka.tools.TopicCommand --bootstrap-server "127.0.0.1:$kafka_port" --list >/dev/null 2>&1
}

start_kafka() {
  if [ -f "$state/kafka.pid" ] && kill -0 "$(cat "$state/kafka.pid")" 2>/dev/null; then log "kafka already up on $kafka_port"; return; fi
  local dir="$state/kafka"
  rm -rf "$dir"; mkdir -p "$dir/logs"
  cat > "$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$ctrl_port
listeners=PLAINTEXT://127.0.0.1:$kafka_port,CONTROLLER://127.0.0.1:$ctrl_port
advertised.listeners=PLAINTEXT://127.0.0.1:$kafka_port
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$dir/data
num.partitions=4
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
PROPS
  local cid
  cid=$(kafka_java kafka.tools.StorageTool random-uuid)
  kafka_java kafka.tools.StorageTool format --standalone -t "$cid" -c "$dir/server.properties" >"$dir/logs/format.log" 2>&1 \
    || { log "kafka storage format failed; see $dir/logs/format.log"; cat "$dir/logs/format.log" >&2; exit 1; }
  LOG_DIR="$dir/logs" nohup java -Xms256m -Xmx1g -Dkafka.logs.dir="$dir/logs" \
    -Dlog4j2.configurationFile="$here/kafka/log4j2.yaml" -cp "$lib/*" kafka.Kafka "$dir/server.properties" \
    >"$dir/logs/server.out" 2>&1 &
  echo $! > "$state/kafka.pid"
  for _ in $(seq 120); do
    if kafka_answers; then log "kafka up on 127.0.0.1:$kafka_port (KRaft, node 1)"; return; fi
    kill -0 "$(cat "$state/kafka.pid")" 2>/dev/null || { log "kafka exited; see $dir/logs/server.out"; tail -30 "$dir/logs/server.out" >&2; exit 1; }
    sleep 1
  done
  log "kafka did not answer within 120 s; see $dir/logs/server.out"; exit 1
}

stop_all() {
  if [ -f "$state/kafka.pid" ]; then
    local pid; pid=$(cat "$state/kafka.pid")
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid"; for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
      kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$state/kafka.pid"; log "kafka stopped"
  fi
  if redis-cli -p "$redis_port" ping >/dev/null 2>&1; then redis-cli -p "$redis_port" shutdown nosave >/dev/null 2>&1 || true; log "redis stopped"; fi
}

case "${1:-}" in
  start) ensure_redis; ensure_kafka_jars; start_redis; start_kafka
         echo "TICKWISE_REDIS_URL=redis://127.0.0.1:$redis_port/0"
         echo "TICKWISE_KAFKA_BOOTSTRAP=127.0.0.1:$kafka_port"
         "$here/s3.sh" start
         "$here/flink.sh" start ;;
  stop) "$here/flink.sh" stop; "$here/s3.sh" stop; stop_all ;;
  status) redis-cli -p "$redis_port" ping 2>/dev/null || echo "redis: down"
          kafka_answers && echo "kafka: up on $kafka_port" || echo "kafka: down"
          "$here/s3.sh" status
          "$here/flink.sh" status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac

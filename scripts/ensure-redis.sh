#!/usr/bin/env bash
# Make sure the tests have their Redis: redis-server and redis-cli on PATH (the Redis
# Cluster tests start their own three-node cluster with them), and a Redis answering at
# 127.0.0.1:6379. Installs Debian's redis-server (which depends on redis-tools, the package
# with redis-cli) when either binary is missing, and starts a server when none answers
# (no persistence, loopback only).
set -euo pipefail
ping_redis() {
  { exec 3<>/dev/tcp/127.0.0.1/6379; } 2>/dev/null || return 1
  printf 'PING\r\n' >&3
  local reply=""
  read -r -t 2 reply <&3 || true
  exec 3>&-
  [[ "$reply" == +PONG* ]]
}
if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
  echo "installing redis-server and redis-tools from Debian..." >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq redis-server redis-tools >/dev/null
fi
ping_redis && exit 0
mkdir -p /tmp/scallion-redis
redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
  --dir /tmp/scallion-redis --logfile /tmp/scallion-redis/redis.log
for _ in $(seq 1 50); do ping_redis && exit 0; sleep 0.1; done
echo "redis did not come up on 127.0.0.1:6379" >&2
exit 1

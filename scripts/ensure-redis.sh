#!/usr/bin/env bash
# Make sure a Redis answers at 127.0.0.1:6379 for the tests: start the machine's, or
# install Debian's redis-server and start it (no persistence, loopback only).
set -euo pipefail
ping_redis() {
  { exec 3<>/dev/tcp/127.0.0.1/6379; } 2>/dev/null || return 1
  printf 'PING\r\n' >&3
  local reply=""
  read -r -t 2 reply <&3 || true
  exec 3>&-
  [[ "$reply" == +PONG* ]]
}
ping_redis && exit 0
if ! command -v redis-server >/dev/null 2>&1; then
  echo "installing redis-server from Debian..." >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq redis-server >/dev/null
fi
mkdir -p /tmp/scallion-redis
redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
  --dir /tmp/scallion-redis --logfile /tmp/scallion-redis/redis.log
for _ in $(seq 1 50); do ping_redis && exit 0; sleep 0.1; done
echo "redis did not come up on 127.0.0.1:6379" >&2
exit 1

#!/usr/bin/env bash
# Make sure the benchmark suite has its load generator: wrk from Debian when it is not on
# PATH (taskset comes with util-linux, valgrind is only needed by `bench instr`/`hinstr`,
# which say so when it is missing). Node peers install themselves with npm on first use.
set -euo pipefail
if ! command -v wrk >/dev/null 2>&1; then
  echo "installing wrk from Debian..." >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq wrk >/dev/null
fi
command -v wrk >/dev/null 2>&1 || { echo "wrk is not on PATH; install it (apt-get install -y wrk)" >&2; exit 1; }

#!/usr/bin/env bash
# Start (or stop) a Docker engine for the container tier of the tests.
#
#   engine.sh start   answer at once if an engine runs; else, as root, install Debian's
#                     docker.io when dockerd is missing and start dockerd in the background
#   engine.sh stop    stop the dockerd that `start` launched (never one it did not start)
#   engine.sh status  say whether an engine answers
#
# `start` never fails: where no engine can run it prints one line saying why and exits 0,
# and the container tier then skips itself. Knobs:
#   DOCKERD_STATE_DIR      pid and log of the dockerd started here (default /tmp/kontaxa-dockerd)
#   DOCKERD_START_TIMEOUT  seconds to wait for the engine to answer (default 60)
#   APT_TIMEOUT            seconds an apt-get install may take (default 600)
set -uo pipefail

state_dir="${DOCKERD_STATE_DIR:-/tmp/kontaxa-dockerd}"
pid_file="$state_dir/dockerd.pid"
log_file="$state_dir/dockerd.log"
start_timeout="${DOCKERD_START_TIMEOUT:-60}"
apt_timeout="${APT_TIMEOUT:-600}"

say() { echo "docker engine: $*"; }

engine_answers() {
  local cli
  for cli in $(type -ap docker) /usr/bin/docker; do
    [[ -x "$cli" ]] && timeout 10 "$cli" info >/dev/null 2>&1 && return 0
  done
  return 1
}

install_docker() {
  command -v apt-get >/dev/null || { say "unavailable: dockerd is not installed and there is no apt-get to install it; the container tier will be skipped"; return 1; }
  echo "docker engine: installing Debian's docker.io with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  if ! timeout "$apt_timeout" apt-get install -y -q --no-install-recommends docker.io >"$state_dir/apt.log" 2>&1; then
    timeout "$apt_timeout" apt-get update -q >>"$state_dir/apt.log" 2>&1
    timeout "$apt_timeout" apt-get install -y -q --no-install-recommends docker.io >>"$state_dir/apt.log" 2>&1 || {
      say "unavailable: apt-get could not install docker.io (see $state_dir/apt.log); the container tier will be skipped"
      return 1
    }
  fi
}

start() {
  if engine_answers; then say "already running"; return 0; fi
  if [[ $EUID -ne 0 ]]; then
    say "unavailable: none answers and starting dockerd needs root; the container tier will be skipped"
    return 0
  fi
  mkdir -p "$state_dir"
  if ! command -v dockerd >/dev/null; then install_docker || return 0; fi
  # A dockerd killed without cleaning up (the end of a session, a crash) leaves its pid files,
  # and a new one refuses to start while they exist.
  local pair stale owner stat
  for pair in /var/run/docker.pid:dockerd /var/run/docker/containerd/containerd.pid:containerd; do
    stale="${pair%%:*}" owner="${pair##*:}"
    [[ -f "$stale" ]] || continue
    # /proc/PID/stat: "PID (comm) STATE ..."; a killed daemon may linger as a zombie (Z).
    stat="$(cat "/proc/$(cat "$stale")/stat" 2>/dev/null || true)"
    if [[ "$stat" != *"($owner) "[!Z]* ]]; then rm -f "$stale"; fi
  done
  echo "docker engine: starting dockerd (log: $log_file)" >&2
  # setsid: dockerd outlives this script but not a kill of its own process group.
  setsid dockerd >"$log_file" 2>&1 </dev/null &
  echo $! >"$pid_file"
  local waited=0
  while (( waited < start_timeout )); do
    if engine_answers; then say "started (pid $(cat "$pid_file"))"; return 0; fi
    if ! kill -0 "$(cat "$pid_file")" 2>/dev/null; then break; fi
    sleep 1; waited=$((waited + 1))
  done
  say "unavailable: dockerd did not answer within ${start_timeout}s ($(tail -n 1 "$log_file" 2>/dev/null)); the container tier will be skipped"
  stop >/dev/null
  return 0
}

stop() {
  [[ -f "$pid_file" ]] || { say "not started by this script; nothing to stop"; return 0; }
  local pid waited=0
  pid="$(cat "$pid_file")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    while kill -0 "$pid" 2>/dev/null && (( waited < 30 )); do sleep 1; waited=$((waited + 1)); done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
  fi
  rm -f "$pid_file"
  say "stopped (pid $pid)"
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  status) if engine_answers; then say "answers"; else say "does not answer"; exit 1; fi ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
exit 0

#!/usr/bin/env bash
# Collect what explains a failed kind run: kind's node logs, every Argo CD Application with
# its sync and health status, pods and events, and the runner's own logs. Never fails: it
# runs after a failure and must not hide it.
#
#   scripts/ci/kind-diagnostics.sh [OUT_DIR]     (task ci:kind-diagnostics)
#
# Every knob is an environment variable with a default:
#   OUT_DIR            where to write (default: build/ci/kind-diagnostics; the argument wins)
#   KIND_CLUSTER_NAME  kind cluster (default: kontaxa, as the runner's)
#   LOCAL_STATE_DIR    the runner's state directory, whose logs/ is copied (default: .local)
#   DRY_RUN            1: print the commands instead of running them
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1

out="${1:-${OUT_DIR:-build/ci/kind-diagnostics}}"
cluster="${KIND_CLUSTER_NAME:-kontaxa}"
state_dir="${LOCAL_STATE_DIR:-.local}"
context="kind-$cluster"
DRY_RUN="${DRY_RUN:-0}"

# collect <file under out, or - for none> <command...>: run it, keep its output, go on.
collect() {
  local file="$1"
  shift
  if [[ "$DRY_RUN" == "1" ]]; then
    printf '+'; printf ' %q' "$@"; [[ "$file" == "-" ]] || printf ' > %q' "$out/$file"; printf '\n'
    return 0
  fi
  echo "kind-diagnostics: $*" >&2
  if [[ "$file" == "-" ]]; then
    "$@" >&2 || echo "kind-diagnostics: failed (exit $?): $*" >&2
  else
    "$@" >"$out/$file" 2>&1 || echo "kind-diagnostics: failed (exit $?): $*" >&2
  fi
}

[[ "$DRY_RUN" == "1" ]] || mkdir -p "$out"
collect - kind export logs --name "$cluster" "$out/kind-logs"
collect argocd-applications.yaml kubectl --context "$context" -n argocd get applications.argoproj.io -o yaml
collect local-status.txt env LOCAL_RUNTIME=kind ./task local-status
collect pods.txt kubectl --context "$context" get pods --all-namespaces -o wide
collect events.txt kubectl --context "$context" get events --all-namespaces --sort-by=.lastTimestamp
collect - cp -r "$state_dir/logs" "$out/runner-logs"
[[ "$DRY_RUN" == "1" ]] || echo "kind-diagnostics: written to $out" >&2
exit 0

#!/bin/sh
# Create the bare repository on first start, then serve it over git://
# (read for Argo CD, push for the runner through a port-forward).
# GIT_SERVER_ROOT, GIT_SERVER_LISTEN and GIT_SERVER_PORT exist for the test that runs
# this very script on loopback (local/tests/test_snapshot_push.py); the pod uses the defaults.
set -eu
root=${GIT_SERVER_ROOT:-/srv/git}
repo=$root/kontaxa.git
if [ ! -d "$repo" ]; then
  git init --quiet --bare --initial-branch=main "$repo"
  git -C "$repo" config receive.denyNonFastForwards false
fi
exec git daemon --reuseaddr --export-all --enable=receive-pack --informative-errors \
  --base-path="$root" --listen="${GIT_SERVER_LISTEN:-0.0.0.0}" --port="${GIT_SERVER_PORT:-9418}" "$root"

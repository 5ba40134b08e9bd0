#!/bin/sh
# Create the bare repository on first start, then serve /srv/git over git://
# (read for Argo CD, push for the runner through a port-forward).
set -eu
repo=/srv/git/kontaxa.git
if [ ! -d "$repo" ]; then
  git init --quiet --bare --initial-branch=main "$repo"
  git -C "$repo" config receive.denyNonFastForwards false
fi
exec git daemon --reuseaddr --export-all --enable=receive-pack --informative-errors \
  --base-path=/srv/git --listen=0.0.0.0 --port=9418 /srv/git

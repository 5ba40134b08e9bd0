#!/usr/bin/env bash
# Save the service image the kind e2e has just run, for the publish job to push as it is.
#
#   scripts/ci/save-tested-image.sh main-api|aux-service   (task ci:save-tested-image IMAGE=...)
#
# Writes $OUT_DIR/<service>.tar.gz (`docker save` of kontaxa/<service>:$IMAGE_TAG, the image
# kind loaded) and $OUT_DIR/<service>.id (its image ID, which `docker load` keeps: the publish
# job refuses to push an image with another ID). Build once, test it, push it, promote its
# digest: nothing is rebuilt between the e2e and the registry.
#
# Every knob is an environment variable with a default:
#   IMAGE_TAG   the tag kind ran (default: dev, the tag the local overlay names)
#   OUT_DIR     where to write (default: build/ci/tested-image)
#   DRY_RUN     1: print every command instead of running it
# shellcheck source=scripts/images/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../images/lib.sh"

target="${1:-}"
image="${SERVICE_IMAGE_NAMES[$target]:-}"
[[ -n "$target" && -n "$image" ]] ||
  die "usage: save-tested-image.sh $(IFS='|'; echo "${SERVICES[*]}") (got '${target}')"
out="${OUT_DIR:-$REPO_ROOT/build/ci/tested-image}"
ref="$image:$IMAGE_TAG"

require_docker
run mkdir -p "$out"
if [[ "$DRY_RUN" == "1" ]]; then
  run "$DOCKER" image inspect --format '{{.Id}}' "$ref"
  printf '+ %q save %q | gzip -1 > %q\n' "$DOCKER" "$ref" "$out/$target.tar.gz"
  exit 0
fi
id="$("$DOCKER" image inspect --format '{{.Id}}' "$ref")" || die "$ref is not here: run the kind e2e first"
"$DOCKER" save "$ref" | gzip -1 >"$out/$target.tar.gz"
echo "$id" >"$out/$target.id"
log "saved $ref ($id) to $out/$target.tar.gz"

#!/usr/bin/env bash
# Push an image to ECR under an immutable tag, and report its digest there.
#
#   scripts/ci/publish-image.sh main-api|aux-service|secrets-provider|golden   (task ci:publish IMAGE=...)
#
# Runs with the AWS credentials of the CI role (GitHub OIDC in CI: the role can push to the
# project's ECR repositories and nothing else). With TESTED_IMAGE_DIR (the service pipelines
# on main), it pushes the very image the kind e2e ran, as scripts/ci/save-tested-image.sh
# saved it: loaded, checked against the image ID recorded before the save, never rebuilt.
# Without it, it builds with scripts/images/build.sh, the same one `task images` runs on a
# laptop (a service on the golden image of the same commit). A tag already in ECR is left
# alone (the repositories are immutable, so a re-run of the workflow must not overwrite it);
# either way the digest ECR holds for the tag is written out (`digest=` in $GITHUB_OUTPUT),
# and promotion pins that digest.
#
# Every knob is an environment variable with a default:
#   IMAGE_TAG      tag to push (default: the commit, $GITHUB_SHA or git's HEAD; for golden,
#                  <commit>-<UTC date>, so the weekly rebuild gets a tag of its own)
#   AWS_REGION     region of the registry (required; configure-aws-credentials sets it)
#   ECR_REGISTRY   registry host (default: <account of the credentials>.dkr.ecr.<region>.amazonaws.com)
#   AWS            AWS CLI (default: aws)
#   TESTED_IMAGE_DIR  directory with <service>.tar.gz and <service>.id from
#                  save-tested-image.sh: push that image instead of building (services only)
#   TESTED_IMAGE_TAG  the tag the saved image carries (default: dev, the kind overlay's)
#   DRY_RUN        1: print every command instead of running it (no Docker or AWS needed)
requested_tag="${IMAGE_TAG:-}" # lib.sh defaults IMAGE_TAG to dev: read it first
# shellcheck source=scripts/images/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../images/lib.sh"

AWS="${AWS:-aws}"
target="${1:-}"
commit="${GITHUB_SHA:-$(git -C "$REPO_ROOT" rev-parse HEAD)}"

if [[ "$target" == "golden" ]]; then
  repositories=("$GOLDEN_NAME")
  default_tag="$commit-$(date -u +%Y%m%d)"
elif [[ -n "$target" && -n "${SERVICE_IMAGE_NAMES[$target]:-}" ]]; then
  repositories=("${SERVICE_IMAGE_NAMES[$target]}")
  default_tag="$commit"
else
  die "usage: publish-image.sh golden|$(IFS='|'; echo "${SERVICES[*]}") (got '${target}')"
fi
export IMAGE_TAG="${requested_tag:-$default_tag}"
[[ "$IMAGE_TAG" =~ ^[0-9a-f]{40}(-[0-9]{8})?$ ]] || die "IMAGE_TAG must be a 40-hex git SHA (golden: SHA-YYYYMMDD), not '$IMAGE_TAG'"

[[ -n "${AWS_REGION:-}" ]] || die "set AWS_REGION (the region of the ECR registry)"
if [[ -z "${ECR_REGISTRY:-}" ]]; then
  if [[ "$DRY_RUN" == "1" ]]; then
    run "$AWS" sts get-caller-identity --query Account --output text
    account="ACCOUNT"
  else
    account="$("$AWS" sts get-caller-identity --query Account --output text)"
  fi
  ECR_REGISTRY="$account.dkr.ecr.$AWS_REGION.amazonaws.com"
fi

# Immutable tags: a tag already in ECR is left alone, each tag checked on its own (golden pushes
# two, and a run that dies between them must push the missing one when it is run again).
already_pushed() { # <repository> <tag>
  local count
  if [[ "$DRY_RUN" == "1" ]]; then
    run "$AWS" ecr batch-get-image --repository-name "$1" --image-ids "imageTag=$2" --query 'length(images)' --output text
    return 1
  fi
  count="$("$AWS" ecr batch-get-image --repository-name "$1" --image-ids "imageTag=$2" \
    --query 'length(images)' --output text)"
  [[ "$count" != "0" ]]
}

pending=() # "<repository>:<tag>" still to push
for repository in "${repositories[@]}"; do
  tags=("$IMAGE_TAG")
  # The builder stage (uv, build tools) is what service builds start from.
  [[ "$target" == "golden" ]] && tags+=("$IMAGE_TAG-builder")
  for tag in "${tags[@]}"; do
    if already_pushed "$repository" "$tag"; then
      log "$ECR_REGISTRY/$repository:$tag is already in ECR: nothing to push"
    else
      pending+=("$repository:$tag")
    fi
  done
done

# The image the kind e2e tested, loaded from its archive; its ID must be the one recorded
# before the save (docker save/load keep the image ID, the digest of its configuration).
load_tested_image() { # <repository>; prints the local reference to push
  local dir="$TESTED_IMAGE_DIR" ref="$1:${TESTED_IMAGE_TAG:-dev}" expected loaded
  [[ -f "$dir/$target.tar.gz" && -f "$dir/$target.id" ]] ||
    die "TESTED_IMAGE_DIR=$dir lacks $target.tar.gz and $target.id (save-tested-image.sh writes them)"
  expected="$(<"$dir/$target.id")"
  [[ "$expected" =~ ^sha256:[0-9a-f]{64}$ ]] || die "$dir/$target.id holds no image ID: '$expected'"
  run "$DOCKER" load --input "$dir/$target.tar.gz" >&2
  if [[ "$DRY_RUN" != "1" ]]; then
    loaded="$("$DOCKER" image inspect --format '{{.Id}}' "$ref")"
    [[ "$loaded" == "$expected" ]] ||
      die "$ref loaded as $loaded, but the tested image was $expected: refusing to push"
    log "pushing $ref ($loaded), the image the kind e2e tested"
  fi
  echo "$ref"
}

if (( ${#pending[@]} > 0 )); then
  source_ref=""
  if [[ -n "${TESTED_IMAGE_DIR:-}" ]]; then
    [[ "$target" != "golden" ]] || die "TESTED_IMAGE_DIR is for service images, not golden"
    require_docker
    source_ref="$(load_tested_image "${pending[0]%%:*}")"
  elif [[ "$target" == "golden" ]]; then
    "$IMAGES_DIR/build.sh" golden
  else
    "$IMAGES_DIR/build.sh" golden "$target"
  fi
  require_docker
  log "logging in to $ECR_REGISTRY"
  if [[ "$DRY_RUN" == "1" ]]; then
    printf '+ %q ecr get-login-password --region %q | %q login --username AWS --password-stdin %q\n' \
      "$AWS" "$AWS_REGION" "$DOCKER" "$ECR_REGISTRY"
  else
    "$AWS" ecr get-login-password --region "$AWS_REGION" |
      "$DOCKER" login --username AWS --password-stdin "$ECR_REGISTRY"
  fi
  for image in "${pending[@]}"; do
    run "$DOCKER" tag "${source_ref:-$image}" "$ECR_REGISTRY/$image"
    run "$DOCKER" push "$ECR_REGISTRY/$image"
    log "pushed $ECR_REGISTRY/$image"
  done
fi

# The digest ECR holds for the tag: what promotion pins (the kubelet pulls by digest). Read with
# BatchGetImage, which the CI role already has (it grants no DescribeImages), accepting the
# manifest types docker and OCI push so ECR converts nothing (ECR API Reference, BatchGetImage).
MANIFEST_TYPES=(
  application/vnd.docker.distribution.manifest.v2+json
  application/vnd.docker.distribution.manifest.list.v2+json
  application/vnd.oci.image.manifest.v1+json
  application/vnd.oci.image.index.v1+json
)
digest=""
if [[ "$DRY_RUN" == "1" ]]; then
  run "$AWS" ecr batch-get-image --repository-name "${repositories[0]}" --image-ids "imageTag=$IMAGE_TAG" \
    --accepted-media-types "${MANIFEST_TYPES[@]}" --query 'images[0].imageId.imageDigest' --output text
else
  digest="$("$AWS" ecr batch-get-image --repository-name "${repositories[0]}" --image-ids "imageTag=$IMAGE_TAG" \
    --accepted-media-types "${MANIFEST_TYPES[@]}" --query 'images[0].imageId.imageDigest' --output text)"
  [[ "$digest" =~ ^sha256:[0-9a-f]{64}$ ]] ||
    die "ECR reports no digest for ${repositories[0]}:$IMAGE_TAG (got '$digest')"
  log "$ECR_REGISTRY/${repositories[0]}:$IMAGE_TAG is $digest"
fi

if [[ -n "${GITHUB_OUTPUT:-}" ]]; then
  echo "tag=$IMAGE_TAG" >>"$GITHUB_OUTPUT"
  [[ -z "$digest" ]] || echo "digest=$digest" >>"$GITHUB_OUTPUT"
fi
if [[ -n "${GITHUB_STEP_SUMMARY:-}" ]]; then
  for repository in "${repositories[@]}"; do
    echo "- \`$ECR_REGISTRY/$repository:$IMAGE_TAG${digest:+@$digest}\`" >>"$GITHUB_STEP_SUMMARY"
  done
fi

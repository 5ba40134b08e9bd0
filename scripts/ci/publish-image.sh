#!/usr/bin/env bash
# Build an image on the golden image and push it to ECR under an immutable tag.
#
#   scripts/ci/publish-image.sh main-api|aux-service|secrets-provider|golden   (task ci:publish IMAGE=...)
#
# Runs with the AWS credentials of the CI role (GitHub OIDC in CI: the role can push to the
# project's ECR repositories and nothing else). The build is scripts/images/build.sh, the
# same one `task images` runs on a laptop: a service image is built on the golden image of
# the same commit. A tag already in ECR is left alone (the repositories are immutable, so a
# re-run of the workflow must not try to overwrite it).
#
# Every knob is an environment variable with a default:
#   IMAGE_TAG      tag to push (default: the commit, $GITHUB_SHA or git's HEAD; for golden,
#                  <commit>-<UTC date>, so the weekly rebuild gets a tag of its own)
#   AWS_REGION     region of the registry (required; configure-aws-credentials sets it)
#   ECR_REGISTRY   registry host (default: <account of the credentials>.dkr.ecr.<region>.amazonaws.com)
#   AWS            AWS CLI (default: aws)
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

# Immutable tags: when the image is already there, this run has nothing to push.
already_pushed() { # <repository>
  local count
  if [[ "$DRY_RUN" == "1" ]]; then
    run "$AWS" ecr batch-get-image --repository-name "$1" --image-ids "imageTag=$IMAGE_TAG" --query 'length(images)' --output text
    return 1
  fi
  count="$("$AWS" ecr batch-get-image --repository-name "$1" --image-ids "imageTag=$IMAGE_TAG" \
    --query 'length(images)' --output text)"
  [[ "$count" != "0" ]]
}

pending=()
for repository in "${repositories[@]}"; do
  if already_pushed "$repository"; then
    log "$ECR_REGISTRY/$repository:$IMAGE_TAG is already in ECR: nothing to push"
  else
    pending+=("$repository")
  fi
done

if (( ${#pending[@]} > 0 )); then
  if [[ "$target" == "golden" ]]; then
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
  for repository in "${pending[@]}"; do
    tags=("$IMAGE_TAG")
    # The builder stage (uv, build tools) is what service builds start from.
    [[ "$target" == "golden" ]] && tags+=("$IMAGE_TAG-builder")
    for tag in "${tags[@]}"; do
      run "$DOCKER" tag "$repository:$tag" "$ECR_REGISTRY/$repository:$tag"
      run "$DOCKER" push "$ECR_REGISTRY/$repository:$tag"
      log "pushed $ECR_REGISTRY/$repository:$tag"
    done
  done
fi

if [[ -n "${GITHUB_OUTPUT:-}" ]]; then
  echo "tag=$IMAGE_TAG" >>"$GITHUB_OUTPUT"
fi
if [[ -n "${GITHUB_STEP_SUMMARY:-}" ]]; then
  for repository in "${repositories[@]}"; do
    echo "- \`$ECR_REGISTRY/$repository:$IMAGE_TAG\`" >>"$GITHUB_STEP_SUMMARY"
  done
fi

#!/usr/bin/env bash
# Build the golden image and the service images on it, with BuildKit and no registry needed.
#
#   scripts/images/build.sh                    golden, then every service that has a Dockerfile
#   scripts/images/build.sh golden main-api    only these (golden first when named)
#
# Tags: kontox-goldenimage:$IMAGE_TAG (and :$IMAGE_TAG-builder, the stage with uv that
# service builds use), kontaxa/<service>:$IMAGE_TAG. The base is chosen by BASE_IMAGE (see
# lib.sh): where no registry answers, the Debian base from base.sh is used, made if missing.
# The host's CA bundle and package index settings reach the builds as BuildKit secrets only.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

require_docker

targets=("$@")
if (( ${#targets[@]} == 0 )); then
  targets=(golden)
  for service in "${SERVICES[@]}"; do
    if [[ -f "$REPO_ROOT/services/$service/Dockerfile" && -f "$REPO_ROOT/services/$service/pyproject.toml" ]]; then
      targets+=("$service")
    else
      log "skipping $service: services/$service has no Dockerfile or pyproject.toml yet"
    fi
  done
fi

# The base of the golden image.
resolve_base_image() {
  if [[ "$BASE_IMAGE" != "auto" ]]; then echo "$BASE_IMAGE"; return; fi
  if image_exists "$OFFICIAL_BASE_IMAGE"; then echo "$OFFICIAL_BASE_IMAGE"; return; fi
  if image_exists "$DEBIAN_BASE_IMAGE"; then echo "$DEBIAN_BASE_IMAGE"; return; fi
  if timeout 120 "$DOCKER" pull --quiet "$OFFICIAL_BASE_IMAGE" >/dev/null 2>&1; then
    echo "$OFFICIAL_BASE_IMAGE"; return
  fi
  log "no registry answers for $OFFICIAL_BASE_IMAGE: making $DEBIAN_BASE_IMAGE from Debian's packages"
  "$IMAGES_DIR/base.sh" >&2
  echo "$DEBIAN_BASE_IMAGE"
}

# Secrets: the CA bundle, and the package index settings found in this environment.
secret_dir="$(mktemp -d)"
trap 'rm -rf "$secret_dir"' EXIT
secret_args=()
if ca="$(ca_bundle)" && [[ -n "$ca" ]]; then
  secret_args+=(--secret "id=ca-bundle,src=$ca")
fi
index_file="$secret_dir/package-index"
: >"$index_file"
for name in UV_DEFAULT_INDEX UV_INDEX UV_INDEX_URL UV_EXTRA_INDEX_URL UV_INDEX_STRATEGY \
  UV_NATIVE_TLS UV_INSECURE_HOST UV_HTTP_TIMEOUT PIP_INDEX_URL PIP_EXTRA_INDEX_URL \
  PIP_TRUSTED_HOST PIP_DEFAULT_TIMEOUT; do
  if [[ -n "${!name:-}" ]]; then printf 'export %s=%q\n' "$name" "${!name}" >>"$index_file"; fi
done
secret_args+=(--secret "id=package-index,src=$index_file")
# Proxies are docker's predefined build args: passed on, and kept out of the image history.
proxy_args=()
for name in HTTP_PROXY HTTPS_PROXY NO_PROXY http_proxy https_proxy no_proxy; do
  if [[ -n "${!name:-}" ]]; then proxy_args+=(--build-arg "$name"); fi
done

build() { # build <name for the log> <docker build args...>
  local what="$1" started=$SECONDS
  shift
  log "building $what"
  run "$DOCKER" build --progress="${BUILD_PROGRESS:-auto}" "${secret_args[@]}" "${proxy_args[@]}" "$@" "$REPO_ROOT"
  log "built $what in $((SECONDS - started))s"
}

golden="$GOLDEN_NAME:$IMAGE_TAG"
builder="$GOLDEN_NAME:$IMAGE_TAG-builder"
source_url="$(image_source)"

for target in "${targets[@]}"; do
  if [[ "$target" == "golden" ]]; then
    base="$(resolve_base_image)"
    log "golden image base: $base"
    golden_sources=(services/golden-image uv.lock pyproject.toml scripts/images/with-build-env)
    revision="$(revision_of "${golden_sources[@]}")"
    common_args=(
      -f "$REPO_ROOT/services/golden-image/Dockerfile"
      --build-arg "BASE_IMAGE=$base"
      --build-arg "UV_VERSION=$(uv_version)"
      --build-arg "VERSION=$(pyproject_version "$REPO_ROOT/pyproject.toml")"
      --build-arg "REVISION=$revision"
      --build-arg "CREATED=$(created_of "$revision" "${golden_sources[@]}")"
      --build-arg "SOURCE=$source_url"
    )
    build "$builder" "${common_args[@]}" --target builder -t "$builder"
    build "$golden" "${common_args[@]}" -t "$golden"
    continue
  fi
  image="${SERVICE_IMAGE_NAMES[$target]:-}"
  [[ -n "$image" ]] || die "unknown image '$target' (golden, ${SERVICES[*]})"
  [[ "$DRY_RUN" == "1" ]] || image_exists "$golden" || die "$golden is missing: build golden first"
  revision="$(revision_of)"
  build "$image:$IMAGE_TAG" \
    -f "$REPO_ROOT/services/$target/Dockerfile" \
    --build-arg "GOLDEN_IMAGE=$golden" \
    --build-arg "BUILDER_IMAGE=$builder" \
    --build-arg "VERSION=$(pyproject_version "$REPO_ROOT/services/$target/pyproject.toml")" \
    --build-arg "REVISION=$revision" \
    --build-arg "CREATED=$(created_of "$revision")" \
    --build-arg "SOURCE=$source_url" \
    -t "$image:$IMAGE_TAG"
done

# Images that a rebuild untagged (new labels, new layers) are of no further use.
for title in "$GOLDEN_NAME" "${SERVICE_IMAGE_NAMES[@]}"; do
  run "$DOCKER" image prune --force --filter "label=org.opencontainers.image.title=$title" >/dev/null
done

# Shared settings and helpers of the image scripts (sourced, not run).
#
# Every knob is an environment variable with a default, listed here and in
# scripts/images/README.md:
#   DOCKER               docker CLI to use (default: the first one that can build with BuildKit)
#   IMAGE_TAG            tag given to every image (default: dev)
#   BASE_IMAGE           base of the golden image; "auto" (default) takes OFFICIAL_BASE_IMAGE
#                        where a registry answers, else DEBIAN_BASE_IMAGE (made when missing)
#   OFFICIAL_BASE_IMAGE  python:3.11-slim-bookworm
#   DEBIAN_BASE_IMAGE    kontaxa/debian-base:bookworm (made by base.sh from Debian's packages)
#   DEBIAN_SUITE         bookworm
#   DEBIAN_MIRROR        Debian mirror for debootstrap (default: the one this machine's apt uses)
#   CA_BUNDLE            CA bundle handed to builds as a BuildKit secret (default: $SSL_CERT_FILE,
#                        else /etc/ssl/certs/ca-certificates.crt when it exists)
#   UV_VERSION           uv used inside builds (default: the version ./task pins)
#   IMAGE_SOURCE         org.opencontainers.image.source label (default: GitHub Actions' repository,
#                        else git's origin when it is a web URL, else the project's GitHub URL)
#   DRY_RUN              1: print the commands instead of running them

set -euo pipefail

IMAGES_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$IMAGES_DIR/../.." && pwd)"

IMAGE_TAG="${IMAGE_TAG:-dev}"
BASE_IMAGE="${BASE_IMAGE:-auto}"
OFFICIAL_BASE_IMAGE="${OFFICIAL_BASE_IMAGE:-python:3.11-slim-bookworm}"
DEBIAN_BASE_IMAGE="${DEBIAN_BASE_IMAGE:-kontaxa/debian-base:bookworm}"
DEBIAN_SUITE="${DEBIAN_SUITE:-bookworm}"
DRY_RUN="${DRY_RUN:-0}"

# Image names every layer agrees on (ECR repositories, manifests).
GOLDEN_NAME="kontox-goldenimage"
declare -A SERVICE_IMAGE_NAMES=(
  [main-api]="kontaxa/main-api"
  [aux-service]="kontaxa/aux-service"
  [secrets-provider]="kontaxa/secrets-provider"
  [aws-emulator]="kontaxa/aws-emulator"
)
# aws-emulator: moto server for the kind runtime and the container tier (never published).
SERVICES=(main-api aux-service secrets-provider aws-emulator)

log() { echo "images: $*" >&2; }
die() { echo "images: error: $*" >&2; exit 1; }

# Run a command, or only print it under DRY_RUN=1.
run() {
  if [[ "$DRY_RUN" == "1" ]]; then
    printf '+'; printf ' %q' "$@"; printf '\n'
  else
    "$@"
  fi
}

# The first docker CLI that can build with BuildKit: a CLI with the buildx plugin, or
# Debian's docker.io CLI (20.10), whose BuildKit client is built in. A newer CLI without
# buildx can only use the legacy builder, which lacks the build secrets and mounts we use.
find_docker() {
  if [[ -n "${DOCKER:-}" ]]; then echo "$DOCKER"; return; fi
  local candidate version
  for candidate in $(type -ap docker) /usr/bin/docker; do
    [[ -x "$candidate" ]] || continue
    if "$candidate" buildx version >/dev/null 2>&1; then echo "$candidate"; return; fi
    version="$("$candidate" version --format '{{.Client.Version}}' 2>/dev/null || true)"
    if [[ "${version%%.*}" =~ ^[0-9]+$ ]] && (( ${version%%.*} < 23 )); then
      echo "$candidate"; return
    fi
  done
  return 1
}

# Sets DOCKER to a BuildKit-capable CLI and checks that the engine answers.
require_docker() {
  DOCKER="$(find_docker)" || die "no docker CLI that can build with BuildKit (install buildx, or Debian's docker.io)"
  export DOCKER_BUILDKIT=1
  if [[ "$DRY_RUN" != "1" ]] && ! "$DOCKER" info >/dev/null 2>&1; then
    die "no Docker engine answers; start one with scripts/images/engine.sh start"
  fi
}

image_exists() { "$DOCKER" image inspect "$1" >/dev/null 2>&1; }

# The CA bundle to hand to builds, if any.
ca_bundle() {
  local candidate
  for candidate in "${CA_BUNDLE:-}" "${SSL_CERT_FILE:-}" /etc/ssl/certs/ca-certificates.crt; do
    if [[ -n "$candidate" && -s "$candidate" ]]; then echo "$candidate"; return; fi
  done
}

# uv inside builds is the version ./task pins for the workspace.
uv_version() {
  if [[ -n "${UV_VERSION:-}" ]]; then echo "$UV_VERSION"; return; fi
  sed -n 's/^uv_version="\(.*\)"$/\1/p' "$REPO_ROOT/task"
}

image_source() {
  if [[ -n "${IMAGE_SOURCE:-}" ]]; then echo "$IMAGE_SOURCE"; return; fi
  if [[ -n "${GITHUB_REPOSITORY:-}" ]]; then
    echo "${GITHUB_SERVER_URL:-https://github.com}/$GITHUB_REPOSITORY"; return
  fi
  # git's origin when it is a web repository (scp-like SSH form rewritten), else the project's.
  local origin
  origin="$(git -C "$REPO_ROOT" remote get-url origin 2>/dev/null || true)"
  origin="${origin%.git}"
  case "$origin" in
    https://*) echo "$origin" ;;
    git@*:*) origin="${origin#git@}"; echo "https://${origin/://}" ;;
    *) echo "https://github.com/kontaxa/kontaxa" ;;
  esac
}

# Last commit that touched the given paths (HEAD when none or outside git), with "-dirty"
# when those paths (the whole tree when none) have uncommitted changes, untracked files
# included: the image then holds code that no commit has, and says so.
revision_of() {
  local sha status
  sha="$(git -C "$REPO_ROOT" log -1 --format=%H -- "$@" 2>/dev/null || true)"
  [[ -n "$sha" ]] || sha="$(git -C "$REPO_ROOT" rev-parse HEAD 2>/dev/null || echo unknown)"
  if [[ "$sha" != unknown ]]; then
    status="$(git -C "$REPO_ROOT" status --porcelain -- "$@" 2>/dev/null || true)"
    [[ -z "$status" ]] || sha="$sha-dirty"
  fi
  echo "$sha"
}

# Time of the sources of a revision, RFC 3339 in UTC (the reproducible-builds rule, so a
# rebuild of the same sources stays cached): the commit's time; for a -dirty revision of
# the given paths, the newest modification time of their uncommitted files.
created_of() { # created_of <revision> [paths...]
  local revision="$1" newest=0 mtime file
  shift
  if [[ "$revision" == *-dirty ]]; then
    while IFS= read -r -d '' file; do
      mtime="$(stat -c %Y "$REPO_ROOT/$file" 2>/dev/null || echo 0)"
      (( mtime > newest )) && newest=$mtime
    done < <(git -C "$REPO_ROOT" ls-files -z --modified --others --exclude-standard -- "$@")
    if (( newest > 0 )); then date -u -d "@$newest" +%Y-%m-%dT%H:%M:%SZ; return; fi
    date -u +%Y-%m-%dT%H:%M:%SZ; return
  fi
  TZ=UTC git -C "$REPO_ROOT" log -1 --format=%cd --date=format-local:%Y-%m-%dT%H:%M:%SZ "$revision" \
    2>/dev/null || date -u +%Y-%m-%dT%H:%M:%SZ
}

# Version of a workspace package, read from its pyproject.toml.
pyproject_version() {
  sed -n 's/^version = "\(.*\)"$/\1/p' "$1" | head -n 1
}

#!/usr/bin/env bash
# Open or update the promotion pull request of one service, after scripts/ci/promote.py has
# bumped the eks overlay in the working tree. Merging that pull request is the promotion;
# CI never pushes to the base branch (promotions would race), only to promote/eks-<service>.
#
#   SERVICE=main-api TAG=<sha> scripts/ci/promotion-pr.sh     (task ci:promotion-pr)
#
# Every knob is an environment variable with a default:
#   SERVICE       main-api or aux-service (required)
#   TAG           the promoted image tag, a 40-hex git SHA (required)
#   DIGEST        the promoted image's digest in ECR, sha256:<hex> (named in the body)
#   BASE_BRANCH   branch the pull request targets (default: main)
#   REMOTE        git remote to push the promotion branch to (default: origin)
#   GH            GitHub CLI (default: gh)
#   GH_TOKEN      token of the push and of gh (in CI: the promotion GitHub App's installation
#                 token, whose push and pull request start the checks; GITHUB_TOKEN's would not)
#   DRY_RUN       1: change nothing, print the git and gh commands instead (the branch's
#                 remote tip is not read, so a recreation is not shown)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."

SERVICE="${SERVICE:-}"
TAG="${TAG:-}"
DIGEST="${DIGEST:-}"
BASE_BRANCH="${BASE_BRANCH:-main}"
REMOTE="${REMOTE:-origin}"
GH="${GH:-gh}"
DRY_RUN="${DRY_RUN:-0}"

log() { echo "promotion-pr: $*" >&2; }
die() { echo "promotion-pr: error: $*" >&2; exit 1; }
run() {
  if [[ "$DRY_RUN" == "1" ]]; then
    printf '+'; printf ' %q' "$@"; printf '\n'
  else
    "$@"
  fi
}

case "$SERVICE" in
  main-api | aux-service) ;;
  *) die "SERVICE must be main-api or aux-service, not '${SERVICE}'" ;;
esac
[[ "$TAG" =~ ^[0-9a-f]{40}$ ]] || die "TAG must be a full 40-hex git SHA, not '${TAG}'"
[[ -z "$DIGEST" || "$DIGEST" =~ ^sha256:[0-9a-f]{64}$ ]] || die "DIGEST must be sha256:<64 hex>, not '${DIGEST}'"

overlay="infra/k8s/overlays/eks/$SERVICE"
branch="promote/eks-$SERVICE"
title="Promote $SERVICE ${TAG:0:12} to EKS"

if git diff --quiet -- "$overlay"; then
  log "$overlay is unchanged: $SERVICE is already at $TAG on the base branch, nothing to open"
  exit 0
fi
# Only the overlay of this service may change: anything else in the diff is a bug upstream.
others="$(git diff --name-only -- . ":(exclude)$overlay")"
[[ -z "$others" ]] || die "files outside $overlay changed, refusing to commit them: $others"

run_url=""
if [[ -n "${GITHUB_RUN_ID:-}" && -n "${GITHUB_REPOSITORY:-}" ]]; then
  run_url="${GITHUB_SERVER_URL:-https://github.com}/$GITHUB_REPOSITORY/actions/runs/$GITHUB_RUN_ID"
fi
body_file="$(mktemp)"
trap 'rm -f "$body_file"' EXIT
{
  echo "Promotes \`$SERVICE\` to image tag \`$TAG\`${DIGEST:+ (digest \`$DIGEST\`)} on EKS."
  echo
  echo "The image was built once at this commit, passed the e2e suite on kind with Argo CD, and"
  echo "that same image was pushed to ECR${run_url:+ (run: $run_url)}. Merging this pull request is the promotion:"
  echo "Argo CD on EKS syncs \`$overlay\`."
  echo
  echo "Changed fields (scripts/ci/promote.py):"
  echo
  git diff --unified=0 -- "$overlay" | sed -n 's/^\([-+]\)\([^-+].*\)$/    \1\2/p'
  echo
  echo "Roll back: revert this pull request's merge commit (docs/cicd.md)."
} >"$body_file"

log "committing $overlay on $branch"
run git switch --force-create "$branch"
run git -c user.name="github-actions[bot]" \
  -c user.email="41898282+github-actions[bot]@users.noreply.github.com" \
  commit --quiet --message "$title" --message "Image tag $TAG (scripts/ci/promote.py)." -- "$overlay"

# The checkout keeps no credentials (persist-credentials: false). For this one push, a
# credential helper hands git the token from the environment: it is never on a command line,
# in .git/config or in this log.
push_config=()
if [[ -n "${GH_TOKEN:-}" ]]; then
  # shellcheck disable=SC2016 # expanded by the helper's shell when git calls it, not here
  push_config=(-c credential.helper= -c 'credential.helper=!f() { echo username=x-access-token; echo "password=$GH_TOKEN"; }; f')
fi
# GitHub refuses a push from an App without the `workflows` permission when the ref update
# brings changes to .github/workflows/: moving the branch from its last promotion to today's
# main does, once a workflow changed on main in between ("refusing to allow a GitHub App to
# create or update workflow ... without `workflows` permission"; seen with
# peter-evans/create-pull-request, Mergify and Kodiak). A new branch whose only new commit is
# the overlay's passes. So such a branch is deleted and pushed anew (its pull request closes
# with it and a new one is opened), rather than granting the App the right to change workflows.
recreate=0
if [[ "$DRY_RUN" == "1" ]]; then
  run git "${push_config[@]}" ls-remote --exit-code --heads "$REMOTE" "refs/heads/$branch"
elif git "${push_config[@]}" ls-remote --exit-code --heads "$REMOTE" "refs/heads/$branch" >/dev/null; then
  git "${push_config[@]}" fetch --quiet "$REMOTE" "refs/heads/$branch"
  tip="$(git rev-parse FETCH_HEAD)"
  if [[ -n "$(git rev-list "$tip..HEAD" -- .github/workflows)" ]] ||
    ! git diff --quiet "$tip" HEAD -- .github/workflows; then
    recreate=1
  fi
else
  status=$?
  # 2: no such branch on the remote (git ls-remote --exit-code); anything else is a failure.
  [[ "$status" == 2 ]] || die "git ls-remote $REMOTE failed (exit $status)"
fi
open_pr() {
  "$GH" pr list --head "$branch" --base "$BASE_BRANCH" --state open --json number --jq '.[0].number // empty'
}
if [[ "$recreate" == "1" ]]; then
  log "recreating $branch: .github/workflows changed on $BASE_BRANCH since its last promotion, and" \
    "the App may not move a branch across that"
  # Closed here, not left to GitHub's own close of a deleted branch's pull request, which
  # comes later: a lookup in between would update a pull request about to close.
  superseded="$(open_pr)"
  if [[ -n "$superseded" ]]; then
    log "closing pull request #$superseded (its branch is recreated; a new one opens)"
    run "$GH" pr close "$superseded" --comment "Superseded: $branch is recreated from $BASE_BRANCH (a workflow changed there), and a new pull request opened."
  fi
  run git "${push_config[@]}" push "$REMOTE" --delete "$branch"
fi
log "pushing $branch (the branch belongs to CI: it is rebuilt from $BASE_BRANCH every time)"
run git "${push_config[@]}" push --force "$REMOTE" "HEAD:refs/heads/$branch"

if [[ "$DRY_RUN" == "1" ]]; then
  existing=""
  run "$GH" pr list --head "$branch" --base "$BASE_BRANCH" --state open --json number --jq '.[0].number // empty'
elif [[ "$recreate" == "1" ]]; then
  existing="" # closed above: a new one opens (gh fails loudly if one were still open)
else
  existing="$(open_pr)"
fi
if [[ -n "$existing" ]]; then
  log "updating pull request #$existing"
  run "$GH" pr edit "$existing" --title "$title" --body-file "$body_file"
else
  log "opening a pull request from $branch to $BASE_BRANCH"
  run "$GH" pr create --base "$BASE_BRANCH" --head "$branch" --title "$title" --body-file "$body_file"
fi

#!/usr/bin/env bash
# terraform plan of infra/terraform/environments/aws, written as the job's summary.
#
#   scripts/ci/terraform-plan.sh      (task ci:tf-plan)
#
# Plans through `task tf:plan ENV=aws`, the developer's target, with the credentials of the
# environment: in CI, the read-only plan role assumed through GitHub OIDC. Backend and
# variables come from two repository variables, written to files here. A pull request runs
# code nobody has reviewed yet, so the plan reads as little as it can:
#   -refresh=false  no managed resource is read back from AWS (no secret value, no
#                   SecureString, no describe call): the plan compares the code with the state
#   -lock=false     a plan writes no state, so it takes no lock either
# and the plan role (infra/terraform/modules/github-oidc, plan_role) may read the state object
# and what the data and ephemeral blocks call, nothing else. The plan shows what the code
# changes against the state, not drift made outside Terraform.
#
# Every knob is an environment variable with a default:
#   TF_AWS_BACKEND_HCL    contents of backend.hcl (bucket, key, region of the state)
#                         (default: the committed backend.hcl.example, placeholders)
#   TF_AWS_TFVARS         contents of terraform.tfvars (account_id, github_repository, ...)
#                         (default: the committed terraform.tfvars.example)
#   PLAN_DIR              where the plan, its text and its JSON go (default: build/ci/terraform-plan)
#   GITHUB_STEP_SUMMARY   file the summary is appended to (GitHub Actions sets it; default: stdout)
#   SUMMARY_MAX_CHARS     longest plan text put into the summary (default: 60000)
#   DRY_RUN               1: print the commands, run nothing
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
repo_root="$(pwd)"
aws_root="$repo_root/infra/terraform/environments/aws"
terraform="$repo_root/infra/terraform/scripts/terraform.sh"

plan_dir="${PLAN_DIR:-build/ci/terraform-plan}"
[[ "$plan_dir" == /* ]] || plan_dir="$repo_root/$plan_dir"
summary="${GITHUB_STEP_SUMMARY:-/dev/stdout}"
max_chars="${SUMMARY_MAX_CHARS:-60000}"
DRY_RUN="${DRY_RUN:-0}"

log() { echo "terraform-plan: $*" >&2; }
run() {
  if [[ "$DRY_RUN" == "1" ]]; then
    printf '+'; printf ' %q' "$@"; printf '\n'
  else
    "$@"
  fi
}

# settings_file <variable name> <file name> <committed example>: the file to pass.
settings_file() {
  local name="$1" file="$plan_dir/$2" example="$aws_root/$3"
  if [[ -n "${!name:-}" ]]; then
    [[ "$DRY_RUN" == "1" ]] || printf '%s\n' "${!name}" >"$file"
    log "$2 from \$$name" >&2
    echo "$file"
  else
    log "$name is not set: using the placeholders of $3" >&2
    echo "$example"
  fi
}

[[ "$DRY_RUN" == "1" ]] || { rm -rf "$plan_dir" && mkdir -p "$plan_dir"; }
backend="$(settings_file TF_AWS_BACKEND_HCL backend.hcl backend.hcl.example)"
var_file="$(settings_file TF_AWS_TFVARS terraform.tfvars terraform.tfvars.example)"
plan="$plan_dir/aws.tfplan"

run ./task tf:plan ENV=aws BACKEND_CONFIG="$backend" VAR_FILE="$var_file" -- -refresh=false -lock=false -no-color -out="$plan"
if [[ "$DRY_RUN" == "1" ]]; then
  run "$terraform" -chdir="$aws_root" show -no-color "$plan"
  run "$terraform" -chdir="$aws_root" show -json "$plan"
  exit 0
fi
"$terraform" -chdir="$aws_root" show -no-color "$plan" >"$plan_dir/plan.txt"
"$terraform" -chdir="$aws_root" show -json "$plan" >"$plan_dir/plan.json"

headline="$(grep -E '^(Plan: |No changes\.)' "$plan_dir/plan.txt" | head -n 1 || true)"
{
  echo "### terraform plan: infra/terraform/environments/aws"
  echo
  echo "**${headline:-see the plan below}**"
  echo
  echo "<details><summary>Plan</summary>"
  echo
  echo '```text'
  if (( $(wc -c <"$plan_dir/plan.txt") > max_chars )); then
    head -c "$max_chars" "$plan_dir/plan.txt"
    echo
    echo "... cut at $max_chars characters: the whole plan is in the job log"
  else
    cat "$plan_dir/plan.txt"
  fi
  echo '```'
  echo
  echo "</details>"
} >>"$summary"
log "${headline:-plan written}; files in $plan_dir"

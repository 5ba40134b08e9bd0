#!/usr/bin/env bash
# Runs terraform with the committed offline provider mirror when this machine has it,
# and with the normal registry otherwise. Used by the Task targets, by tflocal
# (TF_CMD) and by the tests, so all three install providers the same way.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cli_config="$(cd "$here/.." && pwd)/cli-config.tfrc"
mirror="$(sed -n 's/^[[:space:]]*path[[:space:]]*=[[:space:]]*"\(.*\)"[[:space:]]*$/\1/p' "$cli_config")"

if [[ -n "$mirror" && -d "$mirror" ]]; then
  export TF_CLI_CONFIG_FILE="$cli_config"
elif [[ -n "${TF_CLI_CONFIG_FILE:-}" && ! -f "$TF_CLI_CONFIG_FILE" ]]; then
  # A config path that does not exist only earns a warning: fall back to the registry quietly.
  unset TF_CLI_CONFIG_FILE
fi
# No version check or telemetry calls from an offline machine.
export CHECKPOINT_DISABLE=1

exec terraform "$@"

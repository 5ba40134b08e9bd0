"""`python -m secrets_provider`: serve the CSI provider API on <provider dir>/<name>.sock."""

import argparse
import logging
from pathlib import Path
from typing import Any

from secrets_provider.config import Settings
from secrets_provider.server import serve

_AWS_LOGGERS = ("boto3", "botocore", "urllib3")


def main(argv: list[str] | None = None) -> None:
    """Read the settings (flags win over environment variables) and serve."""
    parser = argparse.ArgumentParser(prog="python -m secrets_provider", description=__doc__)
    parser.add_argument(
        "--socket-dir",
        "--provider-volume",
        dest="provider_dir",
        type=Path,
        help="directory of the socket (env PROVIDER_DIR; the AWS provider's flag name works too)",
    )
    parser.add_argument("--provider-name", help="socket name without .sock (env PROVIDER_NAME)")
    parser.add_argument("--log-level", help="Python log level (env LOG_LEVEL)")
    overrides: dict[str, Any] = {
        key: value for key, value in vars(parser.parse_args(argv)).items() if value is not None
    }
    settings = Settings(**overrides)
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    # botocore's DEBUG lines carry response bodies, i.e. secret values: never below INFO.
    for name in _AWS_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.INFO, logging.getLogger().level))
    serve(settings)


if __name__ == "__main__":
    main()

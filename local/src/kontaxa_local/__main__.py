"""`python -m kontaxa_local`."""

import sys

from kontaxa_local.cli import main

sys.exit(main())

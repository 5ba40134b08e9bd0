"""Makes k8s_manifests (the shared code of these tests) importable under importlib mode."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

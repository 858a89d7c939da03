"""SQL migrations of the vault schema, applied by ``bursar db migrate``."""

from pathlib import Path

DIRECTORY = Path(__file__).parent

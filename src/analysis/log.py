"""Package logger. The library never configures handlers; ``cli`` does, once."""

from __future__ import annotations

import logging

logger = logging.getLogger("analysis")

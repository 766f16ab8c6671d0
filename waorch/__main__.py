"""``python -m waorch`` (how runners start workers)."""

import sys

from waorch.cli import main

sys.exit(main())

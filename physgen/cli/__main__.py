"""``python -m physgen.cli``: the `physgen` command."""

import sys

from physgen.cli import main

sys.exit(main())

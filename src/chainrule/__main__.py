"""`python -m chainrule`: the `chainrule` command, as `python -m chainrule.cli` is."""

import sys

from chainrule.cli import main

sys.exit(main())

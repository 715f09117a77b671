"""`python -m tlstudio.cli ...`: the same as the `tlstudio` command."""

import sys

from tlstudio.cli.main import main

sys.exit(main())

"""``python -m ingest.cli``: the same as the ``zxjyck`` command."""

import sys

from ingest.cli.main import main

sys.exit(main())

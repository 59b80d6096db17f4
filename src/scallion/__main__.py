"""``python -m scallion``: the same command line as the ``scallion`` script."""

from .cli import main

raise SystemExit(main())

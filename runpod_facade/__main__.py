"""``python -m runpod_facade``: the ``runpod-facade`` command line (:mod:`runpod_facade.cli`)."""

from .cli import main

raise SystemExit(main())

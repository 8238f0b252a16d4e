"""The sans-IO core: every operation written once, as a generator of effects (``effects``)
that a driver performs. ``engine`` holds one endpoint's requests and their retries, ``waiting``
and ``streaming`` the long-polls, ``deadline``, ``retry`` and ``pacing`` the decisions, and
``interrupts`` what Ctrl-C or a cancelled task does to an operation in flight. No I/O here."""

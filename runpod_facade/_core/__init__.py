"""The sans-IO core: every operation written once, as a generator of effects (``effects``)
that a driver performs. ``engine`` holds one endpoint's requests and their retries, ``waiting``
and ``streaming`` the long-polls, ``deadline``, ``timeouts`` and ``retry`` the decisions, and
``interrupts`` what Ctrl-C or a cancelled task does to an operation in flight. No I/O here."""

"""The public clients: ``sync`` (``Endpoint``, ``Job``, ``JobStream``) and ``aio``
(``AsyncEndpoint``, ``AsyncJob``, ``AsyncJobStream``). Every method that both share is written
once on the bases in ``base`` and ``handles`` through the ``api`` descriptor."""

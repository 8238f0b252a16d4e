"""Batches (``Endpoint.map`` and ``run_many``): ``plan`` checks the arguments, ``run`` holds one
batch's state, ``item`` is one input's operation (written once, for either driver), ``threads``
and ``tasks`` schedule items blocking or on asyncio (``stopping``: how either ends),
``journal`` makes a batch resumable, and ``types`` holds what a batch hands out."""

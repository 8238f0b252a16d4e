"""A local RunPod load-balancing endpoint: any ASGI app run as a pool of simulated workers
behind a router that behaves as RunPod's does (cold starts, ``X-Runpod-Worker-Id`` and the
three affinity modes, capacity, "no workers available", 524, the 30 MB limits, bearer auth,
fault injection). ``docs/load-balancing.md`` describes it."""

from __future__ import annotations

from ._faults import LBFault, LBFaultKind, LBFaultSet
from ._pool import Worker
from ._router import LBRecord, LoadBalancerApp
from ._server import LocalLoadBalancer, serve_load_balancer

__all__ = [
    "LBFault",
    "LBFaultKind",
    "LBFaultSet",
    "LBRecord",
    "LoadBalancerApp",
    "LocalLoadBalancer",
    "Worker",
    "serve_load_balancer",
]

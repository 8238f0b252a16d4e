"""The wheel, installed alone, works: one job through a local endpoint, the command line, and
the pytest plugin registered.

Usage: ``VENV/bin/python -I scripts/dist_smoke.py WHEEL`` (``make dist``), in a venv holding
only the wheel with its runtime dependencies and the ``[local]`` extra. ``-I`` keeps the
working directory (the source tree) off ``sys.path``, so what is imported is what the wheel
installed. Exits non-zero with the reason on the first thing that does not hold.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import subprocess
import sys
from pathlib import Path

#: Only the dev extra brings these: found here, the venv is not the clean one it must be.
DEV_ONLY = ("pytest", "rich", "aiohttp", "mypy")


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    version = Path(argv[0]).name.split("-")[1]  # runpod_facade-VERSION-py3-none-any.whl
    for name in DEV_ONLY:
        if importlib.util.find_spec(name) is not None:
            return fail(f"{name} is installed: this venv is not the clean one")

    import runpod_generated

    import runpod_facade
    from runpod_facade import Endpoint, JobStatus
    from runpod_facade.local import LocalEndpoint, sample_handlers

    prefix = Path(sys.prefix).resolve()
    for module in (runpod_facade, runpod_generated):
        where = Path(module.__file__ or "").resolve()
        if not where.is_relative_to(prefix):
            return fail(f"{module.__name__} was imported from {where}, not from the venv")
    installed = importlib.metadata.version("runpod-facade")
    if not runpod_facade.__version__ == installed == version:
        return fail(
            f"versions differ: runpod_facade.__version__ {runpod_facade.__version__!r},"
            f" installed metadata {installed!r}, wheel file name {version!r}"
        )

    plugins = importlib.metadata.entry_points(group="pytest11", name="runpod_facade")
    if [plugin.value for plugin in plugins] != ["_runpod_facade_pytest"]:
        return fail(f"the pytest plugin's entry point is {list(plugins)!r}")
    if importlib.util.find_spec("_runpod_facade_pytest") is None:
        return fail("the pytest plugin module _runpod_facade_pytest is not installed")

    payload = {"prompt": "hi", "n": [1, 2.5, None]}
    with (
        LocalEndpoint(sample_handlers.echo) as local,
        Endpoint(local.endpoint_id, api_key=local.api_key, base_url=local.base_url) as ep,
    ):
        result = ep.run_sync(payload, timeout=30)
    state = getattr(result, "status", None)
    if state != JobStatus.COMPLETED or result.output != payload:
        return fail(f"run_sync against the local endpoint returned {result!r}")

    command = Path(sys.executable).parent / "runpod-facade"
    # The venv's own console script, no shell: nothing untrusted reaches the call.
    shown = subprocess.run([command, "--version"], capture_output=True, text=True, check=False)  # noqa: S603
    if shown.returncode != 0 or version not in shown.stdout:
        return fail(f"{command} --version exited {shown.returncode}: {shown.stdout}{shown.stderr}")
    print(f"dist_smoke: runpod-facade {version} from the wheel: a job, its command, its plugin")
    return 0


def fail(reason: str) -> int:
    print(f"dist_smoke: {reason}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Loading a user handler and reporting progress from inside it.

A handler is any callable taking the job dict ``{"id": ..., "input": ...}`` (plus ``s3Config``
when the request had one), like a handler of RunPod's worker SDK. It may be a plain function,
an ``async`` function, a generator or an async generator (the last two stream their chunks).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["Handler", "load_handler", "progress_update"]

#: A handler: called with the job dict, returns (or yields) JSON-compatible values.
Handler = Callable[[dict[str, Any]], Any]

_DEFAULT_FUNCTION = "handler"

# job id -> callback that stores an interim output; filled while the job runs.
_progress_lock = threading.Lock()
_progress_sinks: dict[str, Callable[[Any], None]] = {}


def load_handler(target: Handler | str) -> Handler:
    """Resolve ``target`` to a callable handler.

    ``target`` is a callable (returned as is), ``"package.module:function"``, or
    ``"path/to/file.py:function"``; the function name defaults to ``handler``. A file's
    directory is put on ``sys.path`` so the handler can import its neighbours. A module is
    looked up in the current directory too, as ``python -m`` and uvicorn do (a console script
    such as ``runpod-facade`` does not have it on ``sys.path``).
    """
    if callable(target):
        return target
    if not isinstance(target, str) or not target.strip():
        raise TypeError("handler must be a callable or a 'module:function' string")
    location, function = target, _DEFAULT_FUNCTION
    head, sep, tail = target.rpartition(":")
    # Only split on a colon followed by an identifier, so 'C:\\x.py' stays a path.
    if sep and tail.isidentifier() and head:
        location, function = head, tail
    if location.endswith(".py") or "/" in location or "\\" in location:
        module = _import_file(Path(location))
    else:
        module = _import_module(location)
    try:
        handler = getattr(module, function)
    except AttributeError:
        raise ValueError(f"{location!r} has no attribute {function!r}") from None
    if not callable(handler):
        raise TypeError(f"{target!r} is not callable")
    return handler  # type: ignore[no-any-return]


def _import_module(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        # Only a missing *top-level* module may be the cwd's; a missing import inside the
        # handler's own module is the handler's error, reported as is.
        cwd = os.getcwd()
        if exc.name != name.partition(".")[0] or cwd in sys.path or "" in sys.path:
            raise
    sys.path.insert(0, cwd)
    importlib.invalidate_caches()
    return importlib.import_module(name)


def _import_file(path: Path) -> Any:
    path = path.expanduser().resolve()
    if not path.is_file():
        raise FileNotFoundError(f"handler file not found: {path}")
    directory = str(path.parent)
    if directory not in sys.path:
        sys.path.insert(0, directory)
    name = f"_runpod_local_handler_{abs(hash(str(path)))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def progress_update(job: dict[str, Any] | str, progress: Any) -> None:
    """Publish ``progress`` as the job's interim ``output`` while it is ``IN_PROGRESS``.

    ``job`` is the dict the handler received (or its id). Callable from the handler's thread,
    from any other thread, or from an ``async`` handler; a no-op once the job has finished.
    """
    job_id = job if isinstance(job, str) else job.get("id")
    if not isinstance(job_id, str):
        raise ValueError("progress_update needs the job dict the handler received")
    with _progress_lock:
        sink = _progress_sinks.get(job_id)
    if sink is not None:
        sink(progress)


def register_progress_sink(job_id: str, sink: Callable[[Any], None]) -> None:
    """Route :func:`progress_update` calls for ``job_id`` to ``sink`` while the job runs."""
    with _progress_lock:
        _progress_sinks[job_id] = sink


def unregister_progress_sink(job_id: str, sink: Callable[[Any], None]) -> None:
    """Stop routing progress for ``job_id`` (only if ``sink`` is still the registered one)."""
    with _progress_lock:
        if _progress_sinks.get(job_id) is sink:
            del _progress_sinks[job_id]

"""Receive the webhook RunPod POSTs when a job submitted with ``webhook=URL`` ends.

No seed example covers webhooks; the SDK docs only say the POST carries "the same
information as" ``/status``. What arrives is the job's status body (``id``, ``status``,
``output`` or ``error``, ``delayTime``, ``executionTime``, ``workerId``) plus its ``input`` and
``webhook`` echoed back. ``parse_webhook`` turns it into a ``JobState`` (the whole body stays
in ``state.to_dict()``) and raises ``WebhookPayloadError`` for anything that is not a job.

What the docs leave out:
* Nothing is signed: anyone who knows the URL can POST. Make the URL unguessable (a random
  token in its path or query that you check) and confirm with ``ep.status(state.id)`` before
  acting on a result that matters.
* A delivery not answered 2xx is sent again (twice more, 10 s apart), so the same job can
  arrive more than once: answer quickly and make processing idempotent on ``state.id``.

Run: python examples/webhook_receiver.py [PORT]   (needs pip install 'runpod-facade[local]'),
then submit with ``ep.run(input, webhook="http://YOUR-HOST:PORT/runpod-webhook")``.
"""

import sys
from collections import deque

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from runpod_facade import WebhookPayloadError, parse_webhook


async def runpod_webhook(request: Request) -> Response:
    try:
        state = parse_webhook(await request.body())
    except WebhookPayloadError as exc:
        return Response(str(exc), status_code=400)
    request.app.state.recent.append(state)  # hand it to your own (quick, idempotent) code
    print(f"job {state.id} {state.status}: {state.output!r}", flush=True)
    return Response(status_code=200)


app = Starlette(routes=[Route("/runpod-webhook", runpod_webhook, methods=["POST"])])
app.state.recent = deque(maxlen=100)  # the last jobs received


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    uvicorn.run(app, host="127.0.0.1", port=int(args[0]) if args else 8001)


if __name__ == "__main__":
    main()

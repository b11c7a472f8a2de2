"""Schemathesis hooks for scripts/schemathesis.sh (loaded through SCHEMATHESIS_HOOKS).

They bound the two requests that would otherwise make a run wait rather than test:

- a synchronous trigger (`"synchronous": true`) holds its call open until the transfer ends or
  300 s pass, and on `serve --clock virtual` until someone advances the clock: it is sent as an
  asynchronous one (the synchronous path is covered by the scenarios and tests/serve.rs);
- `POST /api/test_helpers/clock/advance` accepts up to 10^10 s; a larger `seconds` than one hour
  is sent as one hour, so a run does not spend its time firing every session's expiry.

Anything else schemathesis generates, including invalid values of these fields, goes as it is.
"""

import schemathesis

TRIGGERS = ("/api/pull/transfer", "/api/push/transfer")
ADVANCE = "/api/test_helpers/clock/advance"
ADVANCE_MAX_SECONDS = 3600


@schemathesis.hook
def map_body(ctx, body):
    path = ctx.operation.path
    if not isinstance(body, dict):
        return body
    if path in TRIGGERS and body.get("synchronous") is True:
        body = {**body, "synchronous": False}
    if path == ADVANCE:
        seconds = body.get("seconds")
        if (
            isinstance(seconds, (int, float))
            and not isinstance(seconds, bool)
            and seconds > ADVANCE_MAX_SECONDS
        ):
            body = {**body, "seconds": ADVANCE_MAX_SECONDS}
    return body

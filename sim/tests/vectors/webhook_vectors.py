#!/usr/bin/env python3
"""Standard Webhooks signature vectors, computed independently of the Rust code.

Uses only Python's standard library (hmac, hashlib, base64), so a bug in the Rust `sign` cannot
hide in a shared dependency. The output is pasted as constants into the tests of
`sim/src/webhook/signature.rs`; regenerate with:

    python3 sim/tests/vectors/webhook_vectors.py

Each vector signs "<webhook_id>.<timestamp>.<body>" with HMAC-SHA256, keyed by the
base64-decoded part of the secret after `whsec_`, and prints `v1,<base64 of the MAC>`.
"""

import base64
import hashlib
import hmac

VECTORS = [
    # The example published with the Standard Webhooks reference libraries.
    ("published", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek",
     1614265330, b'{"test": 2432232314}'),
    # A transfersim-shaped data webhook at the world's default epoch (2026-01-01T00:00:00Z).
    ("data_webhook", "whsec_" + base64.b64encode(bytes(range(32))).decode(),
     "0123456789abcdef01234567", 1767225600,
     b'{"success":true,"transfer_id":"aaaaaaaaaaaaaaaaaaaaaaaa","completed":false}'),
    # An empty body and non-ASCII bytes in the body.
    ("empty_body", "whsec_" + base64.b64encode(b"k" * 24).decode(), "msg_empty", 0, b""),
    ("utf8_body", "whsec_" + base64.b64encode(b"\x00\xff" * 32).decode(), "msg_utf8",
     4102444800, "{\"name\":\"Zoë Ñandú 🚀\"}".encode("utf-8")),
]


def sign(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret[len("whsec_"):], validate=True)
    content = webhook_id.encode() + b"." + str(timestamp).encode() + b"." + body
    mac = hmac.new(key, content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def main() -> None:
    for name, secret, webhook_id, timestamp, body in VECTORS:
        print(f"// {name}")
        print(f'("{secret}", "{webhook_id}", {timestamp}, b"{body_literal(body)}", '
              f'"{sign(secret, webhook_id, timestamp, body)}"),')


def body_literal(body: bytes) -> str:
    """The body as a Rust byte-string literal body."""
    out = []
    for byte in body:
        char = chr(byte)
        if char == '"' or char == "\\":
            out.append("\\" + char)
        elif 0x20 <= byte < 0x7F:
            out.append(char)
        else:
            out.append(f"\\x{byte:02x}")
    return "".join(out)


if __name__ == "__main__":
    main()

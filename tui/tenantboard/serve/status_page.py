"""The status page at `/`: one HTML document with its CSS and script inline.

No external assets (operators run this on closed networks), and a Content-Security-Policy
that allows exactly this script and style by their hashes: nothing else runs, even if
some text slipped into the page as markup. The script builds the table with
``textContent`` only (see static/status.js).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from functools import cache
from importlib.resources import files


@dataclass(frozen=True, slots=True)
class StatusPage:
    html: bytes
    content_security_policy: str


def _sha256(text: str) -> str:
    digest = hashlib.sha256(text.encode()).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"


@cache
def status_page() -> StatusPage:
    static = files("tenantboard.serve") / "static"
    template = (static / "status.html").read_text(encoding="utf-8")
    style = (static / "status.css").read_text(encoding="utf-8")
    script = (static / "status.js").read_text(encoding="utf-8")
    html = template.replace("/*STYLE*/", style).replace("/*SCRIPT*/", script)
    policy = "; ".join(
        [
            "default-src 'none'",
            f"script-src {_sha256(script)}",
            f"style-src {_sha256(style)}",
            "connect-src 'self'",
            "img-src 'self'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )
    return StatusPage(html.encode(), policy)

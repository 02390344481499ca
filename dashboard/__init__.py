"""The staff dashboard: static HTML, ES modules and CSS served by the API at ``/dashboard``.

There is no build step: the browser loads ``static/`` as it is, so what is committed is
exactly what runs (reproducible by construction, nothing to install in CI).
"""

from __future__ import annotations

from pathlib import Path

STATIC_DIR = Path(__file__).parent / "static"

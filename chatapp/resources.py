"""Where the templates, static files and migrations are, installed or in a checkout.

A wheel carries them inside the package (``chatapp/templates`` …); a source checkout
or an editable install keeps them at the top of the repository. Both work from any
working directory.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    for candidate in (_PACKAGE / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"chatapp is missing its {name}/ folder (looked beside {_PACKAGE})")

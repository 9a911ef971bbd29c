"""The audit log at ``/admin/audit``: every operator action, newest first, paged by id."""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web

from ..keys import STORE
from ..params import int_param
from .pages import page

AUDIT_PAGE = 100


@aiohttp_jinja2.template("admin/audit.html")
async def audit_page(request: web.Request) -> dict[str, Any]:
    before = int_param(request, "before")
    entries, more = await request.config_dict[STORE].audit_entries(before, AUDIT_PAGE)
    return await page(request, entries=entries,
                      older=entries[-1].id if more and entries else None, paged=before is not None)

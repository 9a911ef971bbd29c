"""JSON endpoints: room history pages and the health check."""

from __future__ import annotations

from aiohttp import web

from .cluster.node import CLUSTER
from .keys import STORE
from .models import dumps
from .params import int_param
from .privacy import visible_room

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


async def history(request: web.Request) -> web.Response:
    room = (await visible_room(request)).room
    store = request.app[STORE]
    limit = int_param(request, "limit") or DEFAULT_LIMIT
    limit = max(1, min(limit, MAX_LIMIT))
    before = int_param(request, "before")
    after = int_param(request, "after")
    if before is not None and after is not None:
        raise web.HTTPBadRequest(text="give before or after, not both")
    if after is not None:
        messages, has_more = await store.after(room, after, limit)
    else:
        messages, has_more = await store.before(room, before if before is not None else 2**62, limit)
    return web.json_response({"messages": [m.frame() for m in messages], "has_more": has_more},
                             dumps=dumps)


async def healthz(request: web.Request) -> web.Response:
    """200 when the database answers (and, on a cluster node, the node keeps up with the
    log); 503 saying why otherwise, so a load balancer sends nobody to a node that cannot chat."""
    try:
        await request.app[STORE].ping()
    except Exception as exc:  # any failure means unhealthy, and says why
        return web.json_response({"status": "error", "detail": str(exc)}, status=503)
    cluster = request.app.get(CLUSTER)
    if cluster is not None and cluster.follower.stalled:
        return web.json_response({"status": "error", "detail": "not keeping up with the log"}, status=503)
    return web.json_response({"status": "ok"})

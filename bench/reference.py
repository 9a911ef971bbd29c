"""The reference server: the least an aiohttp chat relay can do, to measure chatapp against.

Per-room sets of sockets; every text frame is relayed to every socket of its room,
sender included, awaiting each send in turn, with no parsing, validation or storage.
For the history scenario it also serves ``/rooms/<room>`` and the history API from a list
in memory, as the floor an aiohttp page can reach on this machine.

Run as ``python -m bench.reference --port P [--history N]``.
"""

from __future__ import annotations

import argparse
import html
import logging
import time

from aiohttp import WSMsgType, web

ROOMS = web.AppKey("rooms", dict[str, set[web.WebSocketResponse]])
HISTORY = web.AppKey("history", list[dict[str, object]])
PAGE = 50


async def relay(request: web.Request) -> web.WebSocketResponse:
    rooms = request.app[ROOMS]
    room = request.match_info["room"]
    ws = web.WebSocketResponse(compress=False, max_msg_size=32 * 1024)
    await ws.prepare(request)
    members = rooms.setdefault(room, set())
    members.add(ws)
    try:
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                for peer in tuple(members):
                    try:
                        await peer.send_str(msg.data)
                    except ConnectionError:
                        pass
    finally:
        members.discard(ws)
        if not members:
            rooms.pop(room, None)
    return ws


async def room_page(request: web.Request) -> web.Response:
    recent = request.app[HISTORY][-PAGE:]
    items = "".join(
        f'<li id="m{m["id"]}"><b>{html.escape(str(m["user"]))}</b> '
        f'<time>{m["ts"]}</time> {html.escape(str(m["message"]))}</li>'
        for m in recent
    )
    body = (f"<!doctype html><title>{html.escape(request.match_info['room'])}</title>"
            f"<ol>{items}</ol>")
    return web.Response(text=body, content_type="text/html")


async def history_api(request: web.Request) -> web.Response:
    messages = request.app[HISTORY]
    before = int(request.query.get("before", len(messages) + 1))
    upto = max(0, min(before - 1, len(messages)))
    page = messages[max(0, upto - PAGE):upto]
    return web.json_response({"messages": page, "has_more": upto > PAGE})


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def close_sockets(app: web.Application) -> None:
    for members in list(app[ROOMS].values()):
        for ws in tuple(members):
            await ws.close()


def create_app(history: int) -> web.Application:
    app = web.Application()
    app[ROOMS] = {}
    ts = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    app[HISTORY] = [
        {"type": "chat", "id": i, "room": "history", "user": f"u{i % 20}",
         "message": f"message number {i} of the stored history", "ts": ts, "client_id": f"h.{i}"}
        for i in range(1, history + 1)
    ]
    app.router.add_get("/ws/{room}", relay)
    app.router.add_get("/rooms/{room}", room_page)
    app.router.add_get("/api/rooms/{room}/messages", history_api)
    app.router.add_get("/healthz", healthz)
    app.on_shutdown.append(close_sockets)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--history", type=int, default=0, help="messages kept in memory")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    # The same event loop chatapp picks, so the comparison stays fair.
    try:
        import uvloop  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        uvloop = None
    web.run_app(create_app(args.history), host="127.0.0.1", port=args.port, print=None,
                access_log=None, loop=uvloop.new_event_loop() if uvloop is not None else None)


if __name__ == "__main__":
    main()

"""One socket's writer against a fake transport: the queue bound, one write per tick,
high water, the stall timeout, the backfill's pace, and nothing after the close frame."""

from __future__ import annotations

import asyncio
import json

import pytest

from chatapp.connection import HIGH_WATER, Item
from chatapp.hub import Client, Hub
from chatapp.models import Message
from chatapp.wire import Run, ws_frame
from chatapp.writer import Stored

from .fake_transport import Peer
from .rawws import CLOSE, TEXT


def chat(msg_id: int) -> Item:
    return (msg_id, ws_frame(json.dumps({"type": "chat", "id": msg_id})))


def text(kind: str) -> bytes:
    return ws_frame(json.dumps({"type": kind}))


async def next_tick() -> None:
    """Let the callbacks already scheduled run (the flusher runs once per loop tick).
    A zero sleep is a turn of the loop, not a timed wait."""
    await asyncio.sleep(0)


async def settle() -> None:
    """A few turns of the loop, for a task started by a callback to reach its first wait."""
    for _ in range(5):
        await asyncio.sleep(0)


# ---- the queue ------------------------------------------------------------------------------

async def test_the_transport_pause_threshold_is_the_writers_high_water_mark() -> None:
    peer = Peer()
    assert peer.transport.limits[0] == HIGH_WATER


async def test_frames_queued_in_one_tick_go_out_in_one_write_in_order() -> None:
    peer = Peer(max_queue=100)
    for i in range(1, 51):
        peer.out.enqueue(chat(i))
    peer.out.send(text("presence"))
    assert peer.transport.writes == []  # nothing written before the tick's flush
    await next_tick()
    assert len(peer.transport.writes) == 1
    assert peer.transport.chat_ids == list(range(1, 51))
    assert peer.transport.texts[-1] == {"type": "presence"}
    assert peer.out.last_sent_id == 50


async def test_a_broadcast_item_is_shared_not_copied() -> None:
    item = chat(7)
    peers = [Peer() for _ in range(3)]
    for peer in peers:
        peer.out.enqueue(item)
    await next_tick()
    assert all(peer.transport.writes == [item[1]] for peer in peers)


def run(first: int, last: int) -> Run:
    return Run.of([(i, ws_frame(json.dumps({"type": "chat", "id": i}))) for i in range(first, last + 1)])


async def test_a_run_of_one_batch_is_written_as_the_one_object_every_socket_shares() -> None:
    item = run(1, 5)
    peers = [Peer() for _ in range(3)]
    for peer in peers:
        peer.out.enqueue(item)
    await next_tick()
    assert all(peer.transport.chat_ids == [1, 2, 3, 4, 5] for peer in peers)
    assert all(peer.out.last_sent_id == 5 for peer in peers)


async def test_a_run_counts_each_of_its_frames_against_the_queue_bound() -> None:
    peer = Peer(max_queue=10)
    peer.out.enqueue(run(1, 8))
    peer.out.send(text("presence"))
    peer.out.send(text("presence"))  # 10 frames queued: at the bound, not over it
    assert not peer.out.closing
    peer.out.enqueue(run(9, 10))
    assert peer.out.closing  # 12 would be over it
    await settle()
    assert json.loads(peer.transport.frames[-2][1]) == {"type": "lagged", "resume_after": 0}
    assert peer.transport.chat_ids == []


async def test_a_run_the_backfill_sent_in_part_goes_out_from_its_first_new_message() -> None:
    peer = Peer(max_queue=50, after=0)
    assert await peer.out.backfill([chat(i) for i in range(1, 13)])
    assert peer.out.caught_up(12)
    peer.out.enqueue(run(10, 15))  # 10-12 are copies of what the backfill read
    peer.out.enqueue(run(16, 17))
    await settle()
    assert peer.transport.chat_ids == list(range(1, 18))


async def test_a_batch_reaches_each_room_in_order_and_once() -> None:
    hub = Hub()
    peers = {room: Peer(max_queue=100) for room in ("a", "b", "c")}
    for room, peer in peers.items():
        hub.join(Client(peer.out, room, "u", "127.0.0.1"))
    rooms = ["a", "b", "a", "a", "c", "b", "gone"]
    hub.publish([Stored(Message(i, room, "u", "hi", "ts", None), json.dumps({"type": "chat", "id": i}), False)
                 for i, room in enumerate(rooms, 1)])
    await next_tick()
    assert peers["a"].transport.chat_ids == [1, 3, 4]
    assert peers["b"].transport.chat_ids == [2, 6]
    assert peers["c"].transport.chat_ids == [5]


async def test_over_the_high_water_mark_frames_wait_in_the_queue_until_the_transport_drains() -> None:
    peer = Peer(max_queue=100)
    peer.stall()
    for i in range(1, 6):
        peer.out.enqueue(chat(i))
    await settle()
    assert peer.transport.writes == []
    peer.resume()
    await settle()
    assert peer.transport.writes and len(peer.transport.writes) == 1
    assert peer.transport.chat_ids == [1, 2, 3, 4, 5]


async def test_a_full_queue_closes_with_lagged_naming_the_last_chat_id_written() -> None:
    peer = Peer(max_queue=10)
    for i in range(1, 4):
        peer.out.enqueue(chat(i))
    await next_tick()
    peer.stall()
    for i in range(4, 15):  # 11 more: one past the bound
        peer.out.enqueue(chat(i))
    assert peer.out.closing
    await settle()
    frames = peer.transport.frames
    assert json.loads(frames[-2][1]) == {"type": "lagged", "resume_after": 3}
    assert peer.transport.close_codes() == [1008] and frames[-1][0] == CLOSE
    assert peer.transport.chat_ids == [1, 2, 3]  # the queue was dropped, not flushed


async def test_a_shutdown_close_half_closes_after_its_frame() -> None:
    peer = Peer()
    peer.out.close(1001, b"server shutting down")
    await settle()
    assert peer.transport.close_codes() == [1001] and peer.transport.eof


async def test_nothing_is_written_after_the_close_frame() -> None:
    peer = Peer()
    peer.out.enqueue(chat(1))
    peer.out.close(1000, b"bye")
    peer.out.enqueue(chat(2))
    peer.out.send(text("presence"))
    peer.out.pong(b"ping")
    assert not await peer.out.backfill([chat(3)])
    await settle()
    assert peer.transport.frames[-1][0] == CLOSE
    assert peer.transport.chat_ids == [1]
    assert not peer.transport.eof  # no half-close but at shutdown: aiohttp clients read it as 1006
    peer.out.reading_stopped()
    assert await asyncio.wait_for(peer.out.wait_closed(), 1)
    assert peer.transport.frames[-1][0] == CLOSE and len(peer.transport.close_codes()) == 1


async def test_close_sends_what_is_queued_then_waits_for_the_peers_answer() -> None:
    peer = Peer()
    peer.out.enqueue(chat(1))
    peer.out.close(4000, b"room deleted")
    await settle()
    assert peer.transport.chat_ids == [1] and peer.transport.close_codes() == [4000]
    assert not peer.out.closed and not peer.transport.closing  # still reading the answer
    peer.out.reading_stopped()  # the peer answered
    assert await asyncio.wait_for(peer.out.wait_closed(), 1)
    assert peer.transport.closing and not peer.transport.aborted


@pytest.mark.parametrize(("buffered", "aborted"), [(0, False), (100, True)])
async def test_a_peer_that_never_answers_the_close_is_closed_or_reset_if_it_is_not_reading(
        buffered: int, aborted: bool) -> None:
    peer = Peer()
    peer.out.close(1000, b"", timeout=0.05)
    await settle()
    peer.transport.buffered = buffered
    assert await asyncio.wait_for(peer.out.wait_closed(), 1)
    assert peer.transport.closing and peer.transport.aborted is aborted


async def test_closing_a_socket_whose_transport_is_already_closing_finishes_at_once() -> None:
    peer = Peer()
    peer.stall()
    peer.out.enqueue(chat(1))
    await settle()
    peer.transport.closing = True  # the peer vanished; the transport still holds our frames
    peer.out.close(1001, b"server shutting down")
    assert peer.out.closed  # no waiting for frames that can never be flushed
    assert await asyncio.wait_for(peer.out.wait_closed(), 0.1)
    assert peer.transport.writes == []


async def test_when_the_peer_closes_first_the_queue_is_dropped_and_the_close_answered() -> None:
    peer = Peer()
    peer.stall()
    peer.out.enqueue(chat(1))
    await settle()
    peer.out.reading_stopped()  # the peer's close frame arrived
    assert await asyncio.wait_for(peer.out.wait_closed(), 1)
    assert peer.transport.chat_ids == [] and peer.transport.close_codes() == [1000]


async def test_when_aiohttp_closed_the_socket_itself_nothing_more_is_written() -> None:
    peer = Peer()
    peer.ws.closed = True  # e.g. it answered a 1009 with its own close frame
    peer.out.enqueue(chat(1))
    await settle()
    peer.out.reading_stopped()
    assert await asyncio.wait_for(peer.out.wait_closed(), 1)
    assert peer.transport.writes == []


async def test_a_ping_is_answered_in_order_with_the_queue() -> None:
    peer = Peer()
    peer.out.enqueue(chat(1))
    peer.out.pong(b"abc")
    await next_tick()
    assert peer.transport.frames == [(TEXT, chat(1)[1][2:]), (0xA, b"abc")]


# ---- stuck peers ----------------------------------------------------------------------------

async def test_a_peer_that_takes_nothing_for_the_stall_timeout_is_reset() -> None:
    peer = Peer(stall_timeout=0.05)
    peer.stall()
    peer.out.enqueue(chat(1))
    await asyncio.wait_for(peer.transport.ended.wait(), 2)
    assert peer.transport.aborted and peer.out.closing


async def test_a_close_stuck_behind_a_stalled_peer_ends_within_the_stall_timeout() -> None:
    peer = Peer(stall_timeout=0.05)
    peer.stall()
    peer.out.enqueue(chat(1))
    peer.out.close(1001, b"server shutting down")
    await asyncio.wait_for(peer.transport.ended.wait(), 2)
    assert peer.transport.aborted
    peer.out.reading_stopped()
    assert await asyncio.wait_for(peer.out.wait_closed(), 1)


async def test_a_peer_that_reads_slowly_is_not_dropped() -> None:
    peer = Peer(max_queue=100, stall_timeout=0.5)
    for i in range(1, 11):
        peer.stall()
        peer.out.enqueue(chat(i))
        await settle()
        peer.resume()  # it takes what it was sent, just later
        await settle()
    assert peer.transport.chat_ids == list(range(1, 11)) and not peer.out.closing


# ---- the backfill ---------------------------------------------------------------------------

async def test_a_backfill_waits_for_the_peer_instead_of_overflowing_the_queue() -> None:
    peer = Peer(max_queue=8, after=0)
    peer.stall()
    backfill = asyncio.create_task(peer.out.backfill([chat(i) for i in range(1, 101)]))
    await settle()
    assert not backfill.done() and peer.transport.writes == []
    while not backfill.done():  # the peer reads whenever it is sent something
        peer.resume()
        await settle()
        peer.stall()
    assert await backfill
    peer.resume()
    await settle()
    assert peer.transport.chat_ids == list(range(1, 101)) and not peer.out.closing


async def test_live_chat_during_a_catch_up_is_left_to_the_backfill_and_never_sent_twice() -> None:
    peer = Peer(max_queue=8, after=0)
    assert await peer.out.backfill([chat(1), chat(2)])
    for i in range(2, 40):  # live frames while catching up: stored, so not queued
        peer.out.enqueue(chat(i))
    peer.out.send(text("presence"))  # other frames queue as usual
    assert not peer.out.closing and peer.out.live_head == 39
    assert not peer.out.caught_up(2)  # a newer message was published: read again
    assert await peer.out.backfill([chat(i) for i in range(3, 40)])
    assert peer.out.caught_up(39)
    for i in range(38, 42):  # live copies of what the backfill sent, then new ones
        peer.out.enqueue(chat(i))
    await settle()
    assert peer.transport.chat_ids == list(range(1, 42))
    assert {"type": "presence"} in peer.transport.texts


async def test_lagging_while_catching_up_names_the_last_backfilled_id() -> None:
    peer = Peer(max_queue=4, after=10)
    assert await peer.out.backfill([chat(11), chat(12)])
    await settle()
    peer.stall()
    for _ in range(5):
        peer.out.send(text("typing"))
    await settle()
    lagged = [f for f in peer.transport.texts if f["type"] == "lagged"]
    assert lagged == [{"type": "lagged", "resume_after": 12}]
    assert peer.transport.frames[-1][0] == CLOSE


async def test_a_socket_closed_during_its_backfill_stops_the_backfill() -> None:
    peer = Peer(max_queue=8, after=0)
    peer.stall()
    backfill = asyncio.create_task(peer.out.backfill([chat(i) for i in range(1, 50)]))
    await settle()
    peer.out.close(4000, b"room deleted")
    assert await asyncio.wait_for(backfill, 1) is False
    peer.resume()
    await settle()
    assert peer.transport.frames[-1][0] == CLOSE


# ---- through the hub -----------------------------------------------------------------------

async def test_shutdown_does_not_wait_for_a_socket_whose_transport_is_already_closing() -> None:
    hub = Hub()
    gone, alive = Peer(), Peer()
    for name, peer in (("gone", gone), ("alive", alive)):
        hub.join(Client(peer.out, "room", name, "127.0.0.1"))
    gone.stall()
    gone.out.enqueue(chat(1))
    await settle()
    gone.transport.closing = True  # the peer vanished with frames still queued for it
    closing = asyncio.create_task(hub.close_all(timeout=30))
    await settle()
    alive.out.reading_stopped()  # the live one answers its 1001
    await asyncio.wait_for(closing, 1)  # not 30 s
    assert gone.out.closed and alive.out.closed
    assert alive.transport.close_codes() == [1001] and gone.transport.writes == []

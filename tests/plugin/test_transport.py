"""CoalescingTransport: the frames of one event-loop turn leave in one write, in order.

Here over a real socket pair (the e2e tests of the plugin client run every RPC through it
on real providers); the inner transport counts its writes.
"""

from __future__ import annotations

import asyncio
import socket

from jetgen.runtime.tfplugin.transport import CoalescingTransport

from .conftest import run


async def _pair() -> tuple[CoalescingTransport, asyncio.Transport, socket.socket]:
    ours, theirs = socket.socketpair()
    loop = asyncio.get_running_loop()
    transport, _ = await loop.connect_accepted_socket(asyncio.Protocol, ours)
    writes = []
    real_write = transport.write

    def write(data: bytes) -> None:
        writes.append(data)
        real_write(data)

    transport.write = write  # type: ignore[method-assign]
    transport.writes = writes  # type: ignore[attr-defined]
    theirs.setblocking(False)
    return CoalescingTransport(transport), transport, theirs


async def _read(sock: socket.socket, size: int) -> bytes:
    data = b""
    loop = asyncio.get_running_loop()
    while len(data) < size:
        data += await loop.sock_recv(sock, size - len(data))
    return data


def test_writes_of_one_turn_go_out_in_one_write_in_order():
    async def scenario():
        coalescing, inner, theirs = await _pair()
        coalescing.write(b"HEADERS")
        coalescing.write(b"")  # nothing to send: no write, no empty chunk
        coalescing.write(b"DATA")
        assert inner.writes == []  # not yet: at the next turn
        await asyncio.sleep(0)
        assert inner.writes == [b"HEADERSDATA"]
        coalescing.write(b"NEXT")
        await asyncio.sleep(0)
        assert inner.writes == [b"HEADERSDATA", b"NEXT"]
        assert await _read(theirs, 15) == b"HEADERSDATANEXT"
        coalescing.close()
        theirs.close()

    run(scenario())


def test_close_sends_what_is_buffered_first():
    async def scenario():
        coalescing, inner, theirs = await _pair()
        coalescing.write(b"last words")
        coalescing.close()
        assert inner.writes == [b"last words"]
        assert inner.is_closing()
        assert await _read(theirs, 10) == b"last words"
        await asyncio.sleep(0)  # the scheduled flush finds nothing left
        assert inner.writes == [b"last words"]
        theirs.close()

    run(scenario())


def test_a_closed_transport_is_not_written_to():
    async def scenario():
        coalescing, inner, theirs = await _pair()
        coalescing.write(b"late")
        inner.close()  # the connection went away meanwhile
        await asyncio.sleep(0)
        assert inner.writes == []
        assert coalescing.is_closing()  # everything else is the real transport's
        theirs.close()

    run(scenario())

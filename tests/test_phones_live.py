"""Phones that follow the shared frames (``/ws/tickets/{token}?follow=moves``) against a real
``hallq serve``: each keeps its own place with server/place.py and knows exactly how many are
ahead after every call, while Redis runs nothing per phone."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from server import place as rule
from tests.live import LiveServer
from tests.test_sockets import Peer, call, issue, open_socket, visitor_url


class Phone:
    """A visitor page's logic in Python: the rule, and a re-read when it says so."""

    def __init__(self, server: LiveServer, peer: Peer, token: str) -> None:
        self.server, self.peer, self.token = server, peer, token
        self.place: dict[str, Any] | None = None
        self.status = ""
        self.rereads = 0
        self.frames = 0

    async def read(self) -> None:
        status, body = await asyncio.to_thread(self.server.request, "GET", f"/api/tickets/{self.token}")
        assert status == 200, body
        self.place, self.status = body.get("place"), body["ticket"]["status"]

    async def hello(self) -> None:
        message = await self.peer.recv()
        assert message["type"] == "ticket" and "place" in message and isinstance(message["seq"], int)
        self.place, self.status = message["place"], message["ticket"]["status"]

    async def take(self, until_seq: int) -> None:
        """Read frames up to the hall's ``until_seq``, applying each."""
        seen = self.place["seq"] if self.place else 0
        while seen < until_seq:
            message = await self.peer.recv()
            if "seq" not in message or message.get("type") in ("status", "ping", "snapshot"):
                continue
            self.frames += 1
            seen = int(message["seq"])
            if self.place is None:
                continue
            after = rule.step(self.place, message)
            if after is None:
                self.rereads += 1
                await self.read()
                seen = max(seen, self.place["seq"] if self.place else seen)
            else:
                self.place = after


async def hall_seq(server: LiveServer) -> int:
    status, body = await asyncio.to_thread(server.request, "GET", "/api/halls/demo/state")
    assert status == 200
    return int(body["seq"])


async def test_phones_following_moves_know_their_place_after_every_call(live_server: LiveServer) -> None:
    clerk = await asyncio.to_thread(live_server.login, "s01")
    staff = await asyncio.to_thread(live_server.login, "s05")  # a staff token: no rate limit
    services = ("register", "transfer", "photo")
    tickets = [(await issue(live_server, [services[i % 3]], staff))["ticket"] for i in range(9)]
    async with contextlib.AsyncExitStack() as stack:
        phones = []
        for ticket in tickets:
            url = visitor_url(live_server, ticket["token"]) + "?follow=moves"
            peer = await stack.enter_async_context(open_socket(url))
            phone = Phone(live_server, peer, ticket["token"])
            await phone.hello()
            phones.append(phone)
        for round_ in range(6):
            await call(live_server, clerk, "1")
            if round_ % 2:
                await issue(live_server, ["register"], staff)
            seq = await hall_seq(live_server)
            for phone in phones:
                await phone.take(seq)
                status, truth = await asyncio.to_thread(live_server.request, "GET", f"/api/tickets/{phone.token}")
                assert status == 200
                if truth["ticket"]["status"] == "waiting":
                    assert phone.place is not None
                    assert rule.ahead(phone.place) == truth["ahead"], (truth["ticket"]["number"], round_)
        # everybody got the same shared frames; only the called ones read their tickets again
        assert all(phone.frames >= 6 for phone in phones)
        assert sum(phone.rereads for phone in phones) <= 8


async def test_a_phone_following_moves_with_an_unknown_ticket_is_told(live_server: LiveServer) -> None:
    async with open_socket(visitor_url(live_server, "demo." + "Q" * 32) + "?follow=moves") as phone:
        message = await phone.recv()
        assert message["type"] == "error" and message["error"]["code"] == "unknown_ticket"
        with pytest.raises(ConnectionClosed):
            await phone.recv()

"""The simulator as an httpx transport: in-process, no socket (the demo and the tests)."""

from __future__ import annotations

import asyncio

import httpx

from tenantboard.simulator.scenario import Simulator


class SimulatorTransport(httpx.AsyncBaseTransport):
    """Serves a :class:`Simulator` to httpx in-process: no socket, no network."""

    def __init__(self, simulator: Simulator) -> None:
        self.simulator = simulator

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.simulator.server_down():  # the chaos plan's outage: as if nothing listened
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        host = request.headers.get("host") or request.url.host
        answer = self.simulator.respond(request.method, host, request.url.path)
        if answer.delay:
            await asyncio.sleep(answer.delay)
        if answer.transport_fault == "reset":
            raise httpx.ReadError("[Errno 104] Connection reset by peer", request=request)
        if answer.transport_fault == "cut":
            raise httpx.RemoteProtocolError(
                "peer closed connection without sending complete message body", request=request
            )
        headers = [("Content-Type", answer.content_type), *answer.headers]
        return httpx.Response(answer.status, headers=headers, content=answer.body, request=request)

"""Telling systemd how `serve` is doing: sd_notify(3) in a few lines of the standard library.

A unit with ``Type=notify`` (deploy/systemd/tenantboard.service) hands the service
``$NOTIFY_SOCKET``: a datagram socket, a path or ``@name`` for an abstract one. ``serve``
sends ``READY=1`` once it listens (so ``systemctl start`` returns when the metrics can be
scraped), ``STATUS=`` with its counts (``systemctl status`` shows it), ``WATCHDOG=1`` every
half of ``$WATCHDOG_USEC`` from its event loop (with ``WatchdogSec=``: a loop that stops
turning for that long is killed and restarted), ``RELOADING=1`` then ``READY=1`` around a
reload (SIGHUP: ``ExecReload=``), and ``STOPPING=1`` on the way out.

With no ``$NOTIFY_SOCKET`` (run by hand, in a container, in tests) nothing is sent. The
variables are taken out of the environment when read, so that the alert hooks' commands
do not inherit them and cannot speak for the service.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Callable, MutableMapping

log = logging.getLogger("tenantboard.systemd")

NOTIFY_SOCKET = "NOTIFY_SOCKET"
WATCHDOG_USEC = "WATCHDOG_USEC"
WATCHDOG_PID = "WATCHDOG_PID"
#: Seconds between STATUS updates when systemd asked for no watchdog.
STATUS_EVERY = 10.0


def socket_address(text: str) -> str | bytes | None:
    """``$NOTIFY_SOCKET`` as an address for ``sendto``: an absolute path, or ``@name``
    for an abstract socket (a leading NUL byte); None for anything else."""
    if text.startswith("@") and len(text) > 1:
        return b"\0" + text[1:].encode()
    if text.startswith("/"):
        return text
    return None


def watchdog_seconds(usec: str | None, pid: str | None, own_pid: int) -> float | None:
    """The watchdog's timeout in seconds, or None when there is none for this process
    (``$WATCHDOG_PID`` names another one, or the values are not numbers)."""
    if not usec or not usec.isdigit() or int(usec) == 0:
        return None
    if pid and (not pid.isdigit() or int(pid) != own_pid):
        return None
    return int(usec) / 1_000_000


class SystemdNotifier:
    """Sends notifications to systemd; every method does nothing when it is not there."""

    def __init__(self, address: str | bytes | None, watchdog: float | None = None) -> None:
        self.address = address
        #: The watchdog's timeout in seconds (None: no watchdog).
        self.watchdog = watchdog if address is not None else None
        self._socket: socket.socket | None = None
        self._warned = False

    @classmethod
    def from_environment(
        cls, environ: MutableMapping[str, str] | None = None, own_pid: int | None = None
    ) -> SystemdNotifier:
        """Read (and remove) ``$NOTIFY_SOCKET``, ``$WATCHDOG_USEC`` and ``$WATCHDOG_PID``."""
        env = os.environ if environ is None else environ
        text = env.pop(NOTIFY_SOCKET, "")
        usec, pid = env.pop(WATCHDOG_USEC, None), env.pop(WATCHDOG_PID, None)
        address = socket_address(text) if text else None
        if text and address is None:
            log.warning("ignoring $NOTIFY_SOCKET %r: not a path or an @abstract name", text)
        return cls(address, watchdog_seconds(usec, pid, own_pid or os.getpid()))

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def notify(self, **fields: str) -> None:
        """One datagram of ``NAME=value`` lines (line breaks in a value become spaces)."""
        if self.address is None:
            return
        text = "\n".join(
            f"{name}={' '.join(str(value).splitlines())}" for name, value in fields.items()
        )
        try:
            if self._socket is None:
                self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._socket.sendto(text.encode(), self.address)
        except OSError as exc:
            if not self._warned:  # systemd went away or the socket is wrong: say so once
                self._warned = True
                log.warning("cannot notify systemd at $NOTIFY_SOCKET: %s", exc.strerror or exc)

    def ready(self, status: str) -> None:
        self.notify(READY="1", STATUS=status)

    def reloading(self) -> None:
        """``RELOADING=1`` with ``MONOTONIC_USEC`` (which ``Type=notify-reload`` requires);
        :meth:`ready` says when the reload is done."""
        now = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self.notify(RELOADING="1", MONOTONIC_USEC=str(now), STATUS="reloading the tenant file")

    def stopping(self) -> None:
        self.notify(STOPPING="1", STATUS="stopping")

    async def keep_alive(self, status: Callable[[], str]) -> None:
        """Until cancelled: ``WATCHDOG=1`` every half of the watchdog's timeout, with the
        current ``STATUS=``. Run on the event loop, so a loop that stops turning stops it."""
        if self.address is None:
            return
        every = self.watchdog / 2 if self.watchdog else STATUS_EVERY
        while True:
            await asyncio.sleep(every)
            if self.watchdog:
                self.notify(WATCHDOG="1", STATUS=status())
            else:
                self.notify(STATUS=status())

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None

"""The simulated bins' MQTT connections: one per bin, its own client id and last will.

With logins issued by the registry API (`RegistryClient.issue_logins`), each bin
connects as itself, with the client id its account is bound to, exactly as a real
device would; without them (scale mode, benchmarks) every bin uses the broker's
shared login (`fenlei-sim`), still one connection per bin.

Each bin follows the acknowledgement protocol unless told otherwise (`DeviceOptions`):
it keeps what it publishes until the stored watermark covers it, and on every
reconnect resends what is above the watermark (`simulators.link`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping

import orjson

from fenlei.errors import FenleiError
from ingest.contract import BinAddress, status_topic
from simulators.bins import BinDevice
from simulators.broker import Broker, Login
from simulators.delivery import Message
from simulators.link import BinLink, Resend, Resender
from simulators.publisher import Publisher
from simulators.watermark import DeviceOptions

log = logging.getLogger(__name__)

OFFLINE = orjson.dumps({"online": False})
# How long a closing fleet waits, all bins together, for its goodbyes' PUBACKs.
CLOSE_TIMEOUT_S = 10.0


def client_id(address: BinAddress) -> str:
    """A device's fixed client id (MQTT allows 23 characters at least; Mosquitto more)."""
    return f"sim-{address.estate}-{address.room}-{address.bin}"


def _status_of(device: BinDevice) -> Callable[[], bytes]:
    """The bin's retained online status, as of now (its battery drains)."""
    return lambda: orjson.dumps(device.status(online=True))


class Fleet:
    """Connections of every bin of one estate, publishing at QoS 1 and awaiting PUBACKs."""

    def __init__(
        self,
        broker: Broker | str,
        devices: list[BinDevice],
        logins: Mapping[BinAddress, Login] | None = None,
        options: DeviceOptions | None = None,
    ) -> None:
        self.broker = broker if isinstance(broker, Broker) else Broker(broker)
        self.devices = {d.address: d for d in devices}
        self.logins = logins
        self.options = options or DeviceOptions()
        if logins is not None:
            missing = [a.bin for a in self.devices if a not in logins]
            if missing:
                raise FenleiError(f"no MQTT login for bins {', '.join(sorted(missing))}")
        # Every bin's link, the silent ones too (their buffers stay for the record).
        self.links: dict[BinAddress, BinLink] = {}
        self._pubs: dict[BinAddress, Publisher] = {}
        self._resender: Resender | None = None

    def __enter__(self) -> Fleet:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def connect(self) -> None:
        """Connect every bin; each announces itself online (retained), will offline."""
        self._resender = Resender()
        try:
            for address, device in self.devices.items():
                topic = status_topic(address.estate, address.room, address.bin)
                pub = self._publisher(address, will=(topic, OFFLINE))
                self.links[address] = BinLink(
                    address,
                    pub,
                    self.options,
                    self._resender.schedule,
                    status=_status_of(device),
                )
                pub.connect()
                self._pubs[address] = pub
                pub.publish(topic, orjson.dumps(device.status(online=True)), retain=True)
        except BaseException:
            # A refused bin stops the run; the bins already connected hang up first.
            for pub in self._pubs.values():
                pub.close()
            self._pubs.clear()
            if self._resender is not None:
                self._resender.stop()
                self._resender = None
            raise

    def _publisher(self, address: BinAddress, will: tuple[str, bytes]) -> Publisher:
        if self.logins is None:
            return Publisher(self.broker, client_id(address), will=will)
        login = self.logins[address]
        return Publisher(
            self.broker.as_login(login), login.client_id or client_id(address), will=will
        )

    def publish(self, message: Message) -> None:
        """Publish one message from its bin; a disconnect marker kills the bin's link."""
        pub = self._pubs.get(message.address)
        if pub is None:
            return  # the device went silent earlier
        if message.disconnect:
            log.info("bin %s goes silent", message.address.bin)
            pub.flush()
            pub.close(with_will=True)
            del self._pubs[message.address]
            return
        pub.publish(message.topic, message.payload)
        link = self.links[message.address]
        single = len(message.events) == 1 and not message.payload.startswith(b"[")
        for wire in message.events:
            seq, event_id = wire.get("seq"), wire.get("event_id")
            if isinstance(seq, int) and isinstance(event_id, str):
                # A single event's payload is its JSON object already.
                link.keep(seq, event_id, message.payload if single else orjson.dumps(wire))

    def wait_reconnected(self, connections: int, timeout: float = 60.0) -> None:
        """Wait until every live bin has had ``connections`` accepted connections and
        has resent what it held (after a broker restart: 2)."""
        deadline = time.monotonic() + timeout
        for address, pub in list(self._pubs.items()):
            if not pub.wait_connections(connections, max(deadline - time.monotonic(), 0.0)):
                raise TimeoutError(f"bin {address.bin} did not reconnect within {timeout:.0f} s")
        resender = self._resender
        if resender is not None and not resender.wait_idle(max(deadline - time.monotonic(), 0.0)):
            raise TimeoutError(f"the bins did not resend within {timeout:.0f} s")

    def resends(self) -> list[tuple[BinAddress, Resend]]:
        """Every resend so far, by bin."""
        return [(a, r) for a, link in self.links.items() for r in link.resends]

    def flush(self, timeout: float = 300.0) -> None:
        """Wait for every PUBACK; a publish the broker refused is an error (a bin
        publishes only to its own topics, so a refusal means a wrong account)."""
        if self._resender is not None:
            if not self._resender.wait_idle(timeout):
                raise TimeoutError(f"resends still pending after {timeout:.0f} s")
            if self._resender.error is not None:
                raise self._resender.error
        for pub in self._pubs.values():
            pub.flush(timeout)
            pub.check_denied()

    def close(self, timeout: float = CLOSE_TIMEOUT_S) -> None:
        """Say goodbye like a device being switched off: status offline, then disconnect.

        One deadline for the whole fleet: a Ctrl-C must not wait 30 s per bin for
        PUBACKs that will never come (a broker gone, or a publish cut short)."""
        deadline = time.monotonic() + timeout
        if self._resender is not None:
            self._resender.stop(timeout)
            self._resender = None
        for address, pub in self._pubs.items():
            try:
                pub.publish(
                    status_topic(address.estate, address.room, address.bin), OFFLINE, retain=True
                )
                pub.flush(max(deadline - time.monotonic(), 0.0))
            except (RuntimeError, TimeoutError, FenleiError):
                log.warning("bin %s did not say goodbye", address.bin, exc_info=True)
            pub.close()
        self._pubs.clear()

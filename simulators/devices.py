"""The simulated bins' MQTT connections: one per bin, its own client id and last will.

With logins issued by the registry API (`RegistryClient.issue_logins`), each bin
connects as itself, with the client id its account is bound to, exactly as a real
device would; without them (scale mode, benchmarks) every bin uses the broker's
shared login (`fenlei-sim`), still one connection per bin.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import orjson

from fenlei.errors import FenleiError
from ingest.contract import BinAddress, status_topic
from simulators.bins import BinDevice
from simulators.broker import Broker, Login
from simulators.delivery import Message
from simulators.publisher import Publisher

log = logging.getLogger(__name__)

OFFLINE = orjson.dumps({"online": False})


def client_id(address: BinAddress) -> str:
    """A device's fixed client id (MQTT allows 23 characters at least; Mosquitto more)."""
    return f"sim-{address.estate}-{address.room}-{address.bin}"


class Fleet:
    """Connections of every bin of one estate, publishing at QoS 1 and awaiting PUBACKs."""

    def __init__(
        self,
        broker: Broker | str,
        devices: list[BinDevice],
        logins: Mapping[BinAddress, Login] | None = None,
    ) -> None:
        self.broker = broker if isinstance(broker, Broker) else Broker(broker)
        self.devices = {d.address: d for d in devices}
        self.logins = logins
        if logins is not None:
            missing = [a.bin for a in self.devices if a not in logins]
            if missing:
                raise FenleiError(f"no MQTT login for bins {', '.join(sorted(missing))}")
        self._pubs: dict[BinAddress, Publisher] = {}

    def __enter__(self) -> Fleet:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def connect(self) -> None:
        """Connect every bin; each announces itself online (retained), will offline."""
        try:
            for address, device in self.devices.items():
                topic = status_topic(address.estate, address.room, address.bin)
                pub = self._publisher(address, will=(topic, OFFLINE))
                pub.connect()
                self._pubs[address] = pub
                pub.publish(topic, orjson.dumps(device.status(online=True)), retain=True)
        except BaseException:
            # A refused bin stops the run; the bins already connected hang up first.
            for pub in self._pubs.values():
                pub.close()
            self._pubs.clear()
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

    def flush(self, timeout: float = 300.0) -> None:
        """Wait for every PUBACK; a publish the broker refused is an error (a bin
        publishes only to its own topics, so a refusal means a wrong account)."""
        for pub in self._pubs.values():
            pub.flush(timeout)
            pub.check_denied()

    def close(self) -> None:
        """Say goodbye like a device being switched off: status offline, then disconnect."""
        for address, pub in self._pubs.items():
            try:
                pub.publish(
                    status_topic(address.estate, address.room, address.bin), OFFLINE, retain=True
                )
                pub.flush(30.0)
            except (RuntimeError, TimeoutError, FenleiError):
                log.warning("bin %s did not say goodbye", address.bin, exc_info=True)
            pub.close()
        self._pubs.clear()

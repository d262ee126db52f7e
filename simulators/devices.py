"""The simulated bins' MQTT connections: one per bin, its own client id and last will."""

from __future__ import annotations

import logging

import orjson

from ingest.contract import BinAddress, status_topic
from simulators.bins import BinDevice
from simulators.delivery import Message
from simulators.publisher import Publisher

log = logging.getLogger(__name__)

OFFLINE = orjson.dumps({"online": False})


def client_id(address: BinAddress) -> str:
    """A device's fixed client id (MQTT allows 23 characters at least; Mosquitto more)."""
    return f"sim-{address.estate}-{address.room}-{address.bin}"


class Fleet:
    """Connections of every bin of one estate, publishing at QoS 1 and awaiting PUBACKs."""

    def __init__(self, mqtt_url: str, devices: list[BinDevice]) -> None:
        self.mqtt_url = mqtt_url
        self.devices = {d.address: d for d in devices}
        self._pubs: dict[BinAddress, Publisher] = {}

    def __enter__(self) -> Fleet:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def connect(self) -> None:
        """Connect every bin; each announces itself online (retained), will offline."""
        for address, device in self.devices.items():
            topic = status_topic(address.estate, address.room, address.bin)
            pub = Publisher(self.mqtt_url, client_id(address), will=(topic, OFFLINE))
            pub.connect()
            pub.publish(topic, orjson.dumps(device.status(online=True)), retain=True)
            self._pubs[address] = pub

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
        for pub in self._pubs.values():
            pub.flush(timeout)

    def close(self) -> None:
        """Say goodbye like a device being switched off: status offline, then disconnect."""
        for address, pub in self._pubs.items():
            try:
                pub.publish(
                    status_topic(address.estate, address.room, address.bin), OFFLINE, retain=True
                )
                pub.flush(30.0)
            except (RuntimeError, TimeoutError):
                log.warning("bin %s did not say goodbye", address.bin, exc_info=True)
            pub.close()
        self._pubs.clear()

"""Device accounts: per-bin MQTT credentials, stored as hashes, applied on the broker."""

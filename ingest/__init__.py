"""MQTT ingest: the device contract, payload validation, the client loop and the writer."""

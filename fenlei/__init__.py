"""fenlei: telemetry for smart garbage-sorting rooms."""

__version__ = "0.1.0"

"""Sinks: where results and alerts go (stdout, the durable alert log, MQTT)."""

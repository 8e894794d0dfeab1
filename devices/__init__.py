"""Devices: the MQTT contract, device type plugins, payload codecs and the registry."""

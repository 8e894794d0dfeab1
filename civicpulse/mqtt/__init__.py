"""MQTT plumbing shared by every floor: broker URLs, paho clients, a 3.1.1 packet codec."""

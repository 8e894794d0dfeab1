"""A lean asyncio MQTT 3.1.1 publisher for many sessions, and the sinks the runner publishes to."""

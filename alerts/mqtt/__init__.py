"""One wearer's MQTT side: the transport (``link``), payloads and topics, Home Assistant
discovery, commands in and the per-user service that ties them together."""

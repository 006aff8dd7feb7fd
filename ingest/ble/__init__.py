"""BLE ingest: the client/scanner interface, the real bleak backend, per-sensor connection
managers that run each family's driver (from ``posturewatch.ingest.protocols``), the one battery
read, and the daemon loop that turns notifications into host-time sensor blocks."""

"""BLE ingest: the client/scanner interface, the real bleak backend, per-sensor connection
managers and the daemon loop that turns notifications into host-time sensor blocks."""

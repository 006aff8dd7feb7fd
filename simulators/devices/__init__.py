"""Device emulators: byte-exact BLE notifications of each supported sensor family, behind the
daemon's client/scanner interface, with fault injection and virtual time."""

"""Device protocol decoders: pure bytes → sample blocks, one module per device family."""

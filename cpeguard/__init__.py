"""cpeguard."""

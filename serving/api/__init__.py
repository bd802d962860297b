"""The v1 routes: thin handlers that parse, call a service and return its answer."""

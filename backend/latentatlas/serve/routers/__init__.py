"""HTTP and WebSocket routes: thin wrappers that validate, call a service and shape the reply."""

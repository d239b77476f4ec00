"""Route modules: thin adapters from HTTP to the services. Each exposes `router`."""

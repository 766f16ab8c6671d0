"""The worker webhook receiver: signed events from the workers in, applied to the core (nothing else)."""

"""Business rules. Services know nothing of event shapes or HTTP and receive their repositories."""

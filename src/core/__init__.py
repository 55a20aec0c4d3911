"""Shared infrastructure: settings, JSON logging, AWS clients and the domain error hierarchy."""

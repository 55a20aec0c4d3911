"""Serverless users/orders/uploads service: Lambda handlers and the code they share."""

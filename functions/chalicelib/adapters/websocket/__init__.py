"""Adapters of API Gateway's WebSocket @connections API."""

"""sevsync: keeps sevDesk in step with a CRM through RabbitMQ events."""

__version__ = "0.1.0"

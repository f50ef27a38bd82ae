"""What alarms do: the alarm lifecycle, Open311 service requests and service types, and the
durable outbox with its webhooks and device commands."""

"""The rules engine: operators' rules over committed readings, alarms and their actions
(Open311 service requests, webhooks, device commands), and back-testing."""

"""The safety core: a visit's journey from the door to back safe, the watch on it, the alerts
when a check-in is missed or a code word used, their escalation, the watchdog, and the
office board and police card. See docs/safety-core.md."""

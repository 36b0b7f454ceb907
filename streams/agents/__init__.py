"""faust agents for the low-volume topics (alerts, rollback commands, acks)."""

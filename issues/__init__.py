"""Issues (事件) from the field: intake, location, routing, the closed-loop workflow, escalation, statistics."""

"""The alert service: rules evaluated on the change feed of committed readings, alert
lifecycle with hysteresis and escalation, and delivery to subscribers."""

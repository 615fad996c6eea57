"""Templates, composing, the outbox, loop and bounce rules, SMTP."""

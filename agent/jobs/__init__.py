"""Outbox job kinds the agent registers: what each must-not-lose call carries and how it is sent."""

"""The chain's link between headquarters and each till, over a standard MQTT broker.

Pure modules (no sockets, no clock), shared by the agent's MQTT link and the headquarters relay:

- `topics`: who publishes what where (`posagent/<chain>/<store>/<till>/callback` and `/status`);
- `messages`: the sealed callback message (relay -> till) and the till's status (retained).

See docs/fleet.md for the topology, the security model and operations.
"""

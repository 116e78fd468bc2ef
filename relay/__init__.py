"""Headquarters' side of the chain's fleet link (docs/fleet.md).

- `posagent relay run`: the open-card callback relay. Alipay sends every customer of the app to one public
  URL; the relay checks the callback (the agent's own checks, and the out_string's MAC under the key of
  the till it names), seals it for that till and publishes it at QoS 1 on the till's topic, and answers
  the customer's browser only once the broker has acknowledged it. Stateless: run several behind a load
  balancer. Its /metrics adds the fleet's figures from the tills' retained statuses.
- `posagent fleet status`: every store and till of the chain, the sick ones first.
- `posagent fleet provision`: a till's (or the relay's, or a viewer's) credentials, key and config.

Pure modules (no sockets, no clock): `checks`, `client_address`, `fleet_view`, `pages`, `provision.accounts`.
I/O shells: `keys`, `mqtt`, `exchange`, `handler`, `app`, `status`, `provision.files`, `cli`.
It shares the pure contract with the agent (agent.fleet, the callback checks, out_string, the rate
limiter, the HTTP shell, the OpenAPI client), never the till's daemon (an import-linter contract).
"""

"""The daemon: composes the client, the outbox, the payment service, devices and the ECR server."""

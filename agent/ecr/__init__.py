"""The ECR socket protocol v1: framing, messages and sessions (sans I/O), and the socket server."""

"""Bar-code payments at the till: the sale state machine and the service that drives it."""

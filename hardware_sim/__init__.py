"""The outside world, simulated: Alipay gateway and customer, ESC/POS printer, serial scanner, camera.

Never imports the agent's code: a bug shared by both sides would cancel itself out."""

"""Device drivers: scanners, camera decoders, ESC/POS printers, device discovery. Knows no Alipay flows."""

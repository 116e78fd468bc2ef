"""Members: opening cards and, later, look-ups and loyalty updates (the till flows of DESIGN.md)."""

"""POS Agent: the in-store daemon next to the cash register."""

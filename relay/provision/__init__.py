"""`posagent fleet provision`: the chain's broker accounts, ACL, keys and bundles (`accounts`: pure; `files`: I/O)."""

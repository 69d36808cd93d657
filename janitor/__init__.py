"""The janitor: deletes every stored object past its expiry and audit-logs each deletion."""

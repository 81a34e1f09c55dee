"""The runtime every bookflow service shares, written once: settings, structured logging,
the transactional outbox and its relay, the inbox, dead letters, topic creation and the
HTTP shell with health, metrics and AsyncAPI."""

"""The reference central server: badges, authorization rules, sessions and statistics, remote commands, over a
signed REST protocol (docs/server.md, docs/protocol.md)."""

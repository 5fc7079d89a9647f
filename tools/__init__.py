"""Host-side tools for the multiprise: CLI, virtual board, reference server."""

"""The scheduler that owns the model: jobs, the queue and its backlog, stop sequences."""

"""The OGC API - Processes service: job store, queue, routes, input policy, workers."""

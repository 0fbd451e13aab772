"""The REST API under /api/: views (thin), serializers (validation), errors, pagination, permissions, throttles."""

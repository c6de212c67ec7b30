"""The appearance API: GET and PUT /api/v2/appearance."""

"""The developers' web portal at `/`: server-rendered pages over the same services as the API."""

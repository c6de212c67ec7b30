"""Browser-only mode: refuse every connection that is not made from a browser."""

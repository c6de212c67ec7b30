"""Views of the web portal, one module per page."""

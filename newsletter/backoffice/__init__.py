"""The back office: the editors' signed-in screens and the JSON API, one module per screen."""

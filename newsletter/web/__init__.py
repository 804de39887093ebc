"""The web app: public pages, feeds, webhooks, the editors' app and the API."""

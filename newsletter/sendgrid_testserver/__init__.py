"""A SendGrid-compatible server for tests, benchmarks and staging.

``server.SendGridTestServer`` is the entry point; ``newsletter sendgrid-test-server`` runs
one (``docs/sendgrid-test-server.md``).
"""

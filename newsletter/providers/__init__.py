"""Email providers: the sender protocol and its values, SendGrid, the outbox, memory, the chooser.

Below delivery and subscribers; imports only the foundation (settings, db, errors).
"""

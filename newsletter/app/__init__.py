"""The web app assembled: the factory that mounts every feature's router, and ``newsletter web``."""

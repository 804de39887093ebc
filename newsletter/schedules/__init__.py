"""Editor scheduling: recurring send times, one-off editions, and claiming due editions once."""

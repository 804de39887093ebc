"""Editor scheduling: recurring send times, one-off editions, the tick, the pipeline steps."""

"""Making changes public: corrections, withdrawals and takedowns, and the one publishing path.

Whatever makes something public (an edition published by the pipeline or ``digest send``,
a correction, a withdrawal, a takedown, an expiry) records a pending public change in the
same transaction; flushing it refreshes the static export and tells the WebSub hub, with
retries kept in the database.
"""

"""The processes that run student code: the client the grader holds (client), the worker that runs a notebook's
code and answers calls (server), the warm process that forks workers (forkserver) and their framing (wire)."""

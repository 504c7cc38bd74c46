"""Grading on a Dask cluster: this machine (the client) reads the submissions, draws the seeds and records
every grade; each Dask worker grades in the same sandbox as a single machine, with a fork server of its own."""

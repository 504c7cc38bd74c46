"""What keeps a worker's student code apart from the grader, the machine and other students.

rlimits (memory, CPU, files), environment (nothing of the grader's), namespaces (no network, a private capped
tmpfs), landlock (files hidden, TCP and signals refused), seccomp (dangerous system calls refused), cgroups (a
process cap per worker) and bubblewrap (the fork server in a filesystem without the course).
"""

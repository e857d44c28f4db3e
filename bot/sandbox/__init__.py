"""The sandbox for code from agents and repositories, and its network: an egress proxy.

- bwrap.py: what the agent sees (mounts, namespaces, network);
- limits.py: what it may use (rlimits, and the reason code of each limit);
- uids.py: whose it is (an unprivileged uid per run on a root worker);
- process.py: a bounded child process (deadline, output bound, process group killed);
- run.py: running an agent in the sandbox and saying which limit ended it;
- leftovers.py: ending what a dead worker's agents left running;
- startup.py: whether a worker may start at all (fail closed without bwrap);
- egress.py, proxy.py, forwarder.py: the network allowlist (an egress proxy per run).
"""

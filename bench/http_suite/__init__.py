"""The HTTP benchmark: scenarios, peers, servers, wrk, the runner and its report."""

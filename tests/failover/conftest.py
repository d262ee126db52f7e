"""The failover tests' fixtures (tests/failover/fix_cluster.py)."""

from tests.failover.fix_cluster import cluster as cluster

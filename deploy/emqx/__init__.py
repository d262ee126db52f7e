"""EMQX for the cluster deployment: its config, the database's init scripts, its accounts."""

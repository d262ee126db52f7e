"""Deployment: local services launcher, migrations, compose and k8s files."""

pytest_plugins = ["tests.fix_data", "tests.fix_ingest", "tests.fix_stream"]

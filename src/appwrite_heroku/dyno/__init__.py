"""What runs inside a dyno: the launcher, the Redis bridge, the router, PgBouncer and the
supervised Appwrite processes. It never imports `release`: a dyno boots without the release
side's HTTP stack (checked by import-linter, see pyproject.toml)."""

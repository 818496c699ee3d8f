"""Getting an image onto Heroku: build, registry, the Platform API client and the release
engine behind `deploy` and `plan`. It never imports `dyno` (checked by import-linter)."""

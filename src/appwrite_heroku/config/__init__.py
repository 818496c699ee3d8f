"""The rules both halves share: add-on URLs → Appwrite's `_APP_*` settings, what each process
costs, what each plan allows. Pure functions over dicts; it imports neither `dyno` nor
`release` (checked by import-linter, see pyproject.toml)."""

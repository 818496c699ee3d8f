"""Stand-ins for services the tests cannot reach (Heroku's Platform API and router), built as
real HTTP servers that validate requests the way the real services do."""

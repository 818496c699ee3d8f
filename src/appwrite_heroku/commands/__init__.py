"""The commands of neither side: `budget` and `env` print what config's rules say of a
formation or of an app's config vars, so that config itself stays pure rules."""

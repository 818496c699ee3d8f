"""The GitHub Action's entrypoint (action.yml → Dockerfile → here): a thin adapter over the
engine the CLI uses. What a run does is appwrite_heroku.action.runner's docstring."""

import sys

from appwrite_heroku.action.runner import main

if __name__ == "__main__":
    sys.exit(main())

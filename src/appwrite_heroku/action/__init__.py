"""The GitHub Action's side of a release: workflow commands, outputs, the job summary and
GitHub deployments, over the release engine's result."""

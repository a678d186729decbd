"""``python -m nodeagent [options]``, which ``lessonq node-agent`` runs: see ``nodeagent.cli``."""

from nodeagent.cli import main

if __name__ == "__main__":
    main()

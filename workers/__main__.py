"""``python -m workers worker|beat|flower``: see ``workers.launch``."""

from workers.launch import main

if __name__ == "__main__":
    main()

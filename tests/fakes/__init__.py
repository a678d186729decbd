"""In-memory stand-ins for lessonq's edges (the cluster, the queue, the clock), for fast tests
of the logic. Each keeps the contract of the Protocol it stands for; Redis stays real."""

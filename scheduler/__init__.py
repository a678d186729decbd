"""The intake side of lessonq: lesson models, the curriculum, the client and lesson state."""

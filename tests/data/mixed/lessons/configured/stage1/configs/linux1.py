print("stage 1")

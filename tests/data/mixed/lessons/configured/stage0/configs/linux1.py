print("stage 0")

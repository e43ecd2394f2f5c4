"""Neighbourhood models: a customer's own purchases blended with those of similar customers
(TIFU-KNN, UP-CF@r, TAIW). ``core`` holds what they share: pool matching and sparse state."""

"""`basket predict`: ``inputs`` reads the customers (JSON, JSON Lines), ``names`` resolves product
names, ``predictor`` scores them and writes the JSON, ``reasons`` says why each product."""

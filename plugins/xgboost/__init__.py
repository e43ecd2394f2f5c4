"""The XGBoost candidate ranker: ``model`` (fit, score, save), ``features`` (the candidate
rows), ``neighbour_scores`` (other models' scores as features) and ``dask`` (boosting on a
Dask cluster). Importing it imports neither xgboost nor pandas."""

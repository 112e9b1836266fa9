"""Pipeline + GridSearchCV over the strategy and the adaptation weight λ.

The data go in scikit-learn's packed form: source and target rows stacked in
one X, and y = -1 on the unlabelled target rows. Candidates are scored on the
held-out *labelled* rows (target labels are never used for the choice); see
docs/model_selection.md for scorers that look at the target instead.

Run: KERAS_BACKEND=jax python examples/pipeline_gridsearch.py
"""

import numpy as np
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from keras_transfer import DomainAdaptiveClassifier
from keras_transfer.datasets import make_rotated_moons


def labelled_accuracy(estimator, X, y):
    """Accuracy on the rows that carry a label (y != -1)."""
    keep = y != -1
    return float(np.mean(estimator.predict(X[keep]) == y[keep]))


def main():
    Xs, ys, Xt, yt = make_rotated_moons(1000, 1000, angle=30, random_state=0)
    X = np.concatenate([Xs, Xt])
    y = np.concatenate([ys, np.full(len(Xt), -1)])

    pipe = make_pipeline(
        StandardScaler(),
        DomainAdaptiveClassifier(epochs=10, batch_size=128, random_state=0),
    )
    grid = GridSearchCV(
        pipe,
        param_grid=[
            {"domainadaptiveclassifier__strategy": ["source_only"]},
            {
                "domainadaptiveclassifier__strategy": ["dann", "coral", "mmd"],
                "domainadaptiveclassifier__adaptation_weight": [0.1, 0.3, 1.0],
            },
        ],
        scoring=labelled_accuracy,
        cv=StratifiedKFold(3, shuffle=True, random_state=0),
        n_jobs=1,
        verbose=1,
    )
    grid.fit(X, y)

    print("best parameters:", grid.best_params_)
    print(f"held-out labelled accuracy: {grid.best_score_:.3f}")
    # Evaluation only: the target labels played no part in the search.
    print(f"target accuracy of the refitted best pipeline: {grid.score(Xt, yt):.3f}")


if __name__ == "__main__":
    main()

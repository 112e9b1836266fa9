"""The two-line fit/predict: domain adaptation on the rotated two moons.

Run: KERAS_BACKEND=jax python examples/quickstart.py
"""

from keras_transfer import DomainAdaptiveClassifier
from keras_transfer.datasets import make_rotated_moons

# Labelled source, unlabelled target (yt is only used to report the score).
Xs, ys, Xt, yt = make_rotated_moons(2000, 2000, angle=30, random_state=0)

clf = DomainAdaptiveClassifier("dann", epochs=20, random_state=0).fit((Xs, ys), Xt)
y_pred = clf.predict(Xt)

print(f"target accuracy: {(y_pred == yt).mean():.3f}")

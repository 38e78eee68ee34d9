"""Metrics for sampled images: does each sample show what was asked, and how close are the sets?

No pretrained network can be downloaded here, so the judge is a small CNN
trained on the real images of the task itself (`ImageJudge`). It gives the
conditional accuracy (the share of samples it classifies as the class they
were asked for) and the features for a Fréchet distance and a kernel
distance. These follow the definitions of FID (Heusel et al., 2017) and KID
(Bińkowski et al., 2018), but on this judge's features rather than
Inception's, so their values are comparable only between runs that use the
same judge, never with published FID or KID numbers.

Keras and TensorFlow are imported only when a judge is trained.
"""

from __future__ import annotations

import warnings

import numpy as np

from fusegen.errors import DataError


class ImageJudge:
    """A small CNN classifier of real images; its penultimate layer gives the features.

    A judge that has not learned the classes caps what conditional accuracy
    can show, so `fit` trains until the judge stops improving: up to
    ``epochs`` passes, stopping once the loss on a held-out tenth of the
    images has not improved for ``patience`` passes, with the best weights
    kept. `fit` records the accuracy on that tenth in ``holdout_accuracy``.

    Args:
        classes: the class labels, in a fixed order.
        feature_dim: width of the feature layer.
        epochs: at most this many passes over the real images in `fit`.
        seed: seeds the weights, the held-out tenth and the shuffling.
        patience: passes without improvement before training stops.
    """

    #: Below this many images, `fit` trains every pass on all of them, holding none out.
    MIN_IMAGES_TO_HOLD_OUT = 50

    def __init__(self, classes, feature_dim: int = 64, epochs: int = 30, seed: int = 0, patience: int = 3):
        self.classes = [str(label) for label in classes]
        if len(self.classes) < 2:
            raise DataError(f"a judge needs at least two classes, received {self.classes}.")
        self.feature_dim = feature_dim
        self.epochs = epochs
        self.seed = seed
        self.patience = patience
        self.model = None
        self.feature_model = None
        self.epochs_trained = 0
        self.holdout_accuracy: float | None = None

    def fit(self, images: np.ndarray, labels) -> ImageJudge:
        """Train on real images (N, H, W, C) in [0, 255] and their labels."""
        import keras

        images = _as_images(images, "images")
        targets = self._label_ids(labels)
        keras.utils.set_random_seed(self.seed)
        inputs = keras.Input(shape=images.shape[1:])
        x = keras.layers.Rescaling(1 / 255)(inputs)
        for filters in (32, 64):
            x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
            x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
            x = keras.layers.MaxPooling2D(2)(x)
        x = keras.layers.GlobalAveragePooling2D()(x)
        features = keras.layers.Dense(self.feature_dim, activation="relu", name="features")(x)
        logits = keras.layers.Dense(len(self.classes))(keras.layers.Dropout(0.2)(features))
        self.model = keras.Model(inputs, logits)
        self.feature_model = keras.Model(inputs, features)
        self.model.compile(
            optimizer=keras.optimizers.Adam(1e-3),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
        validation, callbacks = None, []
        if len(images) >= self.MIN_IMAGES_TO_HOLD_OUT:
            order = np.random.default_rng(self.seed).permutation(len(images))
            held, kept = order[: len(images) // 10], order[len(images) // 10 :]
            validation = (images[held], targets[held])
            images, targets = images[kept], targets[kept]
            callbacks.append(
                keras.callbacks.EarlyStopping(
                    monitor="val_loss", patience=self.patience, restore_best_weights=True
                )
            )
        history = self.model.fit(
            images, targets, batch_size=64, epochs=self.epochs, shuffle=True, verbose=0,
            validation_data=validation, callbacks=callbacks,
        )  # fmt: skip
        self.epochs_trained = len(history.history["loss"])
        if validation is not None:
            self.holdout_accuracy = float(
                self.model.evaluate(*validation, batch_size=256, verbose=0, return_dict=True)["accuracy"]
            )
        return self

    def predict(self, images: np.ndarray) -> np.ndarray:
        """The most likely class label of each image."""
        logits = self._require(self.model).predict(_as_images(images, "images"), batch_size=256, verbose=0)
        return np.array(self.classes, dtype=object)[np.argmax(logits, axis=-1)]

    def accuracy(self, images: np.ndarray, labels) -> float:
        """The share of images classified as their label: on samples, the conditional accuracy."""
        labels = np.asarray([str(label) for label in labels], dtype=object)
        predicted = self.predict(images)
        if len(predicted) != len(labels):
            raise DataError(f"{len(predicted)} images but {len(labels)} labels; give one label per image.")
        return float(np.mean(predicted == labels))

    def features(self, images: np.ndarray) -> np.ndarray:
        """The judge's penultimate features (N, feature_dim), float64."""
        model = self._require(self.feature_model)
        return np.asarray(model.predict(_as_images(images, "images"), batch_size=256, verbose=0), "float64")

    def _label_ids(self, labels) -> np.ndarray:
        labels = [str(label) for label in labels]
        unknown = sorted(set(labels) - set(self.classes))
        if unknown:
            raise DataError(f"labels {unknown[:5]} are not among the judge's classes {self.classes}.")
        index = {label: position for position, label in enumerate(self.classes)}
        return np.array([index[label] for label in labels], dtype="int32")

    @staticmethod
    def _require(model):
        if model is None:
            raise RuntimeError("the judge is not trained yet; call fit() first.")
        return model


def frechet_distance(real_features: np.ndarray, generated_features: np.ndarray) -> float:
    """The Fréchet distance between Gaussians fitted to two feature sets (FID's formula)."""
    from scipy import linalg

    real, generated = _feature_pair(real_features, generated_features, minimum=2)
    mean_real, mean_generated = real.mean(axis=0), generated.mean(axis=0)
    cov_real, cov_generated = np.cov(real, rowvar=False), np.cov(generated, rowvar=False)
    with warnings.catch_warnings():
        # Dead ReLU features make the product singular; handled below, as pytorch-fid does.
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        root, _ = linalg.sqrtm(cov_real @ cov_generated, disp=False)
    if not np.isfinite(root).all():
        # A singular product: nudge the diagonals, as the reference implementation does.
        offset = np.eye(len(cov_real)) * 1e-6
        root = linalg.sqrtm((cov_real + offset) @ (cov_generated + offset))
    root = np.real(root)
    distance = np.sum((mean_real - mean_generated) ** 2) + np.trace(cov_real + cov_generated - 2 * root)
    return float(max(distance, 0.0))


def kernel_distance(
    real_features: np.ndarray,
    generated_features: np.ndarray,
    subsets: int = 10,
    subset_size: int = 500,
    seed=0,
) -> float:
    """The kernel distance (KID's estimator): unbiased MMD² with a cubic polynomial kernel, averaged over subsets."""
    real, generated = _feature_pair(real_features, generated_features, minimum=2)
    size = min(subset_size, len(real), len(generated))
    rng = np.random.default_rng(seed)
    dim = real.shape[1]
    estimates = []
    for _ in range(subsets):
        x = real[rng.choice(len(real), size, replace=False)]
        y = generated[rng.choice(len(generated), size, replace=False)]
        k_xx = (x @ x.T / dim + 1) ** 3
        k_yy = (y @ y.T / dim + 1) ** 3
        k_xy = (x @ y.T / dim + 1) ** 3
        off_diagonal = size * (size - 1)
        estimates.append(
            (k_xx.sum() - np.trace(k_xx)) / off_diagonal
            + (k_yy.sum() - np.trace(k_yy)) / off_diagonal
            - 2 * k_xy.mean()
        )
    return float(np.mean(estimates))


def sample_diversity(features: np.ndarray, labels) -> float:
    """The mean distance between two samples of the same class, in feature space.

    0 means every sample of a class is the same (mode collapse); compare it
    with the same number for real images.
    """
    features = np.asarray(features, "float64")
    labels = np.asarray([str(label) for label in labels], dtype=object)
    if len(features) != len(labels):
        raise DataError(f"{len(features)} feature rows but {len(labels)} labels; give one label per row.")
    distances = []
    for label in sorted(set(labels)):
        group = features[labels == label]
        if len(group) < 2:
            continue
        squared = np.sum(group**2, axis=1)
        pairwise = np.sqrt(np.maximum(squared[:, None] + squared[None, :] - 2 * group @ group.T, 0.0))
        distances.append(pairwise[np.triu_indices(len(group), 1)].mean())
    if not distances:
        raise DataError("sample diversity needs at least two samples of one class.")
    return float(np.mean(distances))


def _as_images(images, name: str) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 4:
        raise DataError(f"{name} must have shape (N, H, W, C), received {list(images.shape)}.")
    if len(images) == 0:
        raise DataError(f"{name} is empty.")
    return images.astype("float32")


def _feature_pair(real, generated, minimum: int) -> tuple[np.ndarray, np.ndarray]:
    real, generated = np.asarray(real, "float64"), np.asarray(generated, "float64")
    if real.ndim != 2 or generated.ndim != 2 or real.shape[1] != generated.shape[1]:
        raise DataError(
            f"expected two feature sets (N, D) of one width, received {list(real.shape)} and "
            f"{list(generated.shape)}."
        )
    if min(len(real), len(generated)) < minimum:
        raise DataError(f"each feature set needs at least {minimum} rows.")
    return real, generated

"""workbench.face_net gives dlib's face descriptors: the same numbers from the same model file."""

from pathlib import Path

import cv2
import dlib
import face_recognition_models as frm
import numpy as np
import pytest

from workbench import inference
from workbench.face_net import FaceNet, onnx_model, read_weights
from workbench.faces import embed_chips, face_chip, landmarks, photo_faces

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
PHOTOS = [
    SHARED / "dlib-examples/examples/faces/2008_001009.jpg",
    SHARED / "face-recognition-ageitgey/examples/obama.jpg",
    SHARED / "face-recognition-ageitgey/examples/biden.jpg",
]


@pytest.mark.skipif(
    not all(p.exists() for p in PHOTOS), reason="needs ../shared/data (real face photos)"
)
def test_descriptors_equal_dlibs_on_real_faces():
    dlib_net = dlib.face_recognition_model_v1(frm.face_recognition_model_location())
    chips = []
    for path in PHOTOS:
        image = cv2.imread(str(path))
        rgb, faces = photo_faces(image)
        chips += [face_chip(rgb, landmarks(rgb, f.box)) for f in faces]
    assert len(chips) >= 4
    ours = embed_chips(chips)
    theirs = np.array([dlib_net.compute_face_descriptor(c) for c in chips])
    assert ours.shape == (len(chips), 128)
    np.testing.assert_allclose(ours, theirs, atol=1e-5)
    # one at a time gives the same as the batch
    np.testing.assert_allclose(embed_chips(chips[:1])[0], ours[0], atol=1e-6)


def test_a_file_that_is_not_the_network_is_refused(tmp_path):
    bogus = tmp_path / "model.dat"
    bogus.write_bytes(Path(frm.pose_predictor_five_point_model_location()).read_bytes())
    with pytest.raises(ValueError, match="not dlib's ResNet"):
        read_weights(bogus)


def test_random_weights_change_the_output():
    # the forward pass uses every layer: perturbing one convolution moves the descriptor
    weights = read_weights(frm.face_recognition_model_location())
    chip = np.random.default_rng(0).integers(0, 255, (150, 150, 3), np.uint8)
    net = lambda w: FaceNet(inference.session(onnx_model(w), "test"))  # noqa: E731
    before = net(weights).descriptors([chip])[0]
    kernel, bias, stride = weights["conv"][-1]
    weights["conv"][-1] = (kernel * 1.5, bias, stride)
    after = net(weights).descriptors([chip])[0]
    assert np.linalg.norm(after - before) > 1e-3

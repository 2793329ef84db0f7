import cv2
import numpy as np

from common.plots import TEXT, grid_image


def ink(picture):
    return int((picture.min(axis=2) < 128).sum())


def test_row_names_are_drawn_whole_beside_the_pictures():
    """A long row name ("frame by frame" in the video strip) is not cut off by the pictures beside it."""
    white = np.full((128, 128, 3), 255, np.uint8)
    titles_only = ink(grid_image([[white]], ("x",)))
    for name in ("frame by frame", "steady"):
        canvas = np.full((40, 400, 3), 255, np.uint8)
        cv2.putText(canvas, name, (10, 30), **TEXT)
        assert ink(grid_image([[white]], ("x",), [name])) - titles_only == ink(canvas), name

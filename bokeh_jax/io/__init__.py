"""Files and pictures for people.

- ``photos``: reading real-world photos and depth maps, writing images atomically;
- ``viz``: colour-mapped depth and weight maps, contact sheets;
- ``samples``: the sample photos found at run time (scikit-image, shared/data).
"""

"""On-disk data: run folders (transitions), images and COCO instance annotations."""

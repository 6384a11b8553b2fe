"""Columns of harmonize's index.csv: one row per harmonised image, read by balance (and, through its
dataset.csv and split.csv, by every stage that trains or scores on the images)."""

IMAGE_COLUMNS = ["image_id", "exam_id", "patient_id", "laterality", "view", "vendor", "path"]  # from ingest
# md5 of each harmonised PNG: a stage reading a subset of the images depends on the table that lists them
# with their md5, not on the whole image folder (it reruns exactly when one of its images changes).
INDEX_COLUMNS = [*IMAGE_COLUMNS, "md5"]

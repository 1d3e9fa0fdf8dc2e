"""Testing a checkpoint: val2017 metrics or test-dev files (test) and the COCO scoring (coco_eval)."""

"""Testing a checkpoint: the sequence (test), which checkpoint (checkpoint), the test set and the model's outputs
(inference, distributed), the COCO scoring (coco_eval) and the test-dev server files (testdev)."""

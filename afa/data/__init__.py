"""Data tools: the synthetic COCO-format dataset, COCO download and verification. No model code here."""

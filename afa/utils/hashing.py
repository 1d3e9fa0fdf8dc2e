"""File digests: the one reader behind every checksum the pipeline records or verifies."""
import hashlib

CHUNK = 1 << 20


def file_digest(path, algorithm='sha256'):
    """Hex digest of a file, read in chunks (checkpoints and COCO zips are far larger than memory allows)."""
    digest = hashlib.new(algorithm)
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(CHUNK), b''):
            digest.update(block)
    return digest.hexdigest()


def sha256_file(path):
    return file_digest(path, 'sha256')

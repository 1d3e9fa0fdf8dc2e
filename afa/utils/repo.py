"""Where the checkout lives: configs/, the zoo and git provenance are read from it."""
import os


def _repo_root():
    """The checkout holding configs/: this package's parent (editable install, tests), else $AFA_REPO (the Docker
    image installs the package into site-packages and keeps the repository in /opt/afa)."""
    here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if os.path.exists(os.path.join(here, 'configs', 'zoo.yaml')) or not os.environ.get('AFA_REPO'):
        return here
    return os.environ['AFA_REPO']


REPO_ROOT = _repo_root()

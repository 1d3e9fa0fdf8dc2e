"""`afa data`: the synthetic dataset, COCO 2017 (download, verify), the pretrained backbones and the authors'
released weights of rows."""
import argparse

from afa.runs import rehearsal

# --timeout of every command that downloads (afa/data/download.py: headers within it in all, the body at a
# least rate over each such window).
TIMEOUT_HELP = ('seconds a download may wait: for the response headers in all, and for each stretch of the body '
                'coming slower than 1 KiB/s; then it retries (default 60)')


def add_commands(sub):
    from afa.data.coco import part_names  # the manifest names the parts
    p = sub.add_parser('data', help='datasets: synthetic, coco, verify, pretrained, release')
    data = p.add_subparsers(dest='data_command', metavar='DATASET')
    data.required = True
    q = data.add_parser('synthetic', help='make the synthetic COCO-format dataset (deterministic)')
    q.add_argument('--root', default='data/synthetic', help='output folder (default data/synthetic)')
    q.add_argument('--train', type=int, default=48, help='training images (default 48)')
    q.add_argument('--val', type=int, default=16, help='validation images (default 16)')
    q.add_argument('--test', type=int, default=8, help='test-dev images (default 8)')
    q.add_argument('--height', type=int, default=128)
    q.add_argument('--width', type=int, default=160)
    q.add_argument('--seed', type=int, default=0)
    q.add_argument('--coco-like', action='store_true',
                   help="COCO 2017's 80 categories and ids, image sizes and quirks (crowd RLE, polygons in parts, "
                        "tiny and zero-area boxes, images without annotations) for the rehearsal scale; --height "
                        "and --width do not apply")
    q.set_defaults(func=_cmd_data_synthetic)
    q = data.add_parser('standin', help='backbone weights for the rehearsal: links to the real files where present, '
                                        'else stand-ins with their keys and shapes (random values)')
    q.add_argument('--dir', default=rehearsal.PRETRAINED_DIR, help='folder to fill (default %(default)s)')
    q.add_argument('--real-dir', default='data/pretrained',
                   help='where `afa data pretrained` put the real files (default %(default)s)')
    q.add_argument('--names', nargs='+', help='only these files (default: all)')
    q.set_defaults(func=_cmd_data_standin)
    q = data.add_parser('pretrained', help='fetch the ImageNet backbone weights into a local cache (verified)')
    q.add_argument('--dir', default='data/pretrained', help='cache folder (default data/pretrained)')
    q.add_argument('--names', nargs='+', help='only these files (default: all)')
    q.add_argument('--mirror', help='base URL serving the same file names')
    q.add_argument('--timeout', type=float, default=60.0, help=TIMEOUT_HELP)
    q.add_argument('--quiet', action='store_true', help='no progress bars')
    q.set_defaults(func=_cmd_data_pretrained)
    q = data.add_parser('release', help="the authors' released config and weights of rows (Google Drive, gdown)")
    q.add_argument('rows', metavar='ROW', nargs='+', help='row ids with released weights (`afa zoo` lists them)')
    q.add_argument('--dir', default='data/release', help='one folder per row in it (default data/release)')
    q.add_argument('--from', dest='source', metavar='DIR',
                   help='a folder you downloaded by hand from the row\'s Drive link (one row): copied and checked')
    q.add_argument('--quiet', action='store_true', help='no progress bars')
    q.set_defaults(func=_cmd_data_release)
    parts = part_names()
    q = data.add_parser('coco', help='download, extract and verify COCO 2017 (resumable)')
    q.add_argument('--root', default='data/coco', help='dataset folder (default data/coco)')
    q.add_argument('--parts', nargs='+', choices=parts, help='default: all of %s' % ', '.join(parts))
    q.add_argument('--mirror', help='base URL with the official layout (zips/..., annotations/...)')
    q.add_argument('--jobs', type=int, default=3, help='parallel downloads (default 3)')
    q.add_argument('--timeout', type=float, default=60.0, help=TIMEOUT_HELP)
    q.add_argument('--delete-archives', action='store_true', help='remove the zips once verified')
    q.add_argument('--manifest', help=argparse.SUPPRESS)
    q.add_argument('--quiet', action='store_true', help='no progress bars')
    q.set_defaults(func=_cmd_data_coco)
    q = data.add_parser('verify', help='verify a COCO 2017 folder you already have (no download)',
                        description='Verify a COCO-format folder without downloading: each image part holds the '
                                    'expected number of files, each an image that ends whole; each annotation file '
                                    'parses, has its COCO keys, lists no image or category twice, names only known '
                                    'images and categories, and every box, polygon and RLE mask fits the size its '
                                    'image declares; with both, every listed image exists and its file header has '
                                    'the declared width and height (the header is read, no image is decoded). '
                                    'ROOT/.afa-verified.json records the parts that verified.')
    q.add_argument('--root', default='data/coco')
    q.add_argument('--parts', nargs='+', choices=parts)
    q.add_argument('--manifest', help=argparse.SUPPRESS)
    q.set_defaults(func=_cmd_data_verify)


def _cmd_data_synthetic(args):
    if args.coco_like:
        from afa.data.coco_like import generate
        manifest = generate(args.root, num_train=args.train, num_val=args.val, num_test=args.test, seed=args.seed)
    else:
        from afa.data.synthetic import generate
        manifest = generate(args.root, num_train=args.train, num_val=args.val, num_test=args.test,
                            height=args.height, width=args.width, seed=args.seed)
    print('synthetic dataset in %s: %s images, %d annotations'
          % (args.root, manifest['images'], manifest['annotations']))
    return 0


def _cmd_data_standin(args):
    from afa.data.standin import prepare
    for name, served in sorted(prepare(args.dir, args.real_dir, names=args.names).items()):
        print('%s: %s (%s)' % (served['file'], served['served'], served['sha256'][:12]))
    return 0


def _cmd_data_pretrained(args):
    from afa.data.pretrained import fetch
    for path in fetch(args.dir, names=args.names, mirror=args.mirror, progress=not args.quiet, timeout=args.timeout):
        print('verified %s' % path)
    return 0


def _cmd_data_coco(args):
    from afa.data.coco import prepare
    prepare(args.root, parts=args.parts, mirror=args.mirror, jobs=args.jobs, manifest_path=args.manifest,
            progress=not args.quiet, keep_archives=not args.delete_archives, timeout=args.timeout)
    return 0


def _cmd_data_verify(args):
    from afa.data.coco import load_manifest, write_verified
    manifest = load_manifest(args.manifest)
    write_verified(args.root, manifest, args.parts or list(manifest['parts']))
    return 0


def _cmd_data_release(args):
    from afa.release.download import fetch
    for marker in fetch(args.rows, args.dir, source=args.source, quiet=args.quiet):
        print('verified %s' % marker)
    return 0

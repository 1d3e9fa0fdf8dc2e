"""`afa release convert`: a released checkpoint under this project's neck names."""


def add_commands(sub):
    p = sub.add_parser('release', help="the authors' released checkpoints: convert to this project's names")
    rel = p.add_subparsers(dest='release_command', metavar='ACTION')
    rel.required = True
    q = rel.add_parser('convert', help="rewrite a released checkpoint under this project's neck names (not needed "
                                       "for `afa test`, which converts on the fly)")
    q.add_argument('src', metavar='IN', help="checkpoint in the release's names (e.g. final.pth)")
    q.add_argument('dst', metavar='OUT', help='converted checkpoint to write (its sha256 record goes beside it)')
    q.set_defaults(func=_cmd_release_convert)


def _cmd_release_convert(args):
    from afa.release.names import convert_file
    record = convert_file(args.src, args.dst)
    print('afa release convert: %s (%s names, sha256 %s) -> %s (sha256 %s)'
          % (args.src, record['source_naming'], record['source_sha256'][:12], args.dst,
             record['converted_sha256'][:12]))
    return 0

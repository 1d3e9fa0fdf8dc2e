"""Set the C++ standard that mmcv-full 1.7.2's setup.py passes to the compiler for its ops.

mmcv 1.7.2 predates torch's move to C++20 (torch 2.10+ headers refuse older standards). The sources compile
unchanged under C++20; only the hard-coded flags have to follow torch: the host compiler's for the CPU ops
always, nvcc's too with --nvcc (a build with CUDA ops: the modern image, scripts/gpu_check.sh). Fails loudly if
a line is not found, so that a different sdist is never patched blindly.

    python scripts/patch_mmcv_cxx_std.py SETUP_PY STANDARD [--nvcc]
"""
import re
import sys

FLAGS = {
    'cxx': r"extra_compile_args\['cxx'\] = \['-std=c\+\+17'\]",
    'nvcc': r"extra_compile_args\['nvcc'\] \+= \['-std=c\+\+17'\]",
}


def patch(text, standard, compilers):
    for compiler in compilers:
        pattern = FLAGS[compiler]
        replacement = pattern.replace('\\', '').replace('-std=c++17', '-std=%s' % standard)
        text, count = re.subn(pattern, replacement, text)
        if count != 1:
            raise ValueError('expected one -std=c++17 line for the %s compiler, found %d' % (compiler, count))
    return text


def main(argv):
    args = [a for a in argv if a != '--nvcc']
    if len(args) != 2:
        sys.exit(__doc__.strip().splitlines()[-1].strip())
    setup_py, standard = args
    compilers = ['cxx', 'nvcc'] if '--nvcc' in argv else ['cxx']
    try:
        new = patch(open(setup_py).read(), standard, compilers)
    except ValueError as error:
        sys.exit('patch_mmcv_cxx_std: %s in %s' % (error, setup_py))
    open(setup_py, 'w').write(new)


if __name__ == '__main__':
    main(sys.argv[1:])

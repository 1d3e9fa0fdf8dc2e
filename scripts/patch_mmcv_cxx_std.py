"""Set the C++ standard that mmcv-full 1.7.2's setup.py passes to the compiler for its CPU ops.

mmcv 1.7.2 predates torch's move to C++20 (torch 2.10+ headers refuse older standards). The sources compile
unchanged under C++20; only the hard-coded flag has to follow torch. Fails loudly if the line is not found,
so that a different sdist is never patched blindly.
"""
import re
import sys


def main(setup_py, standard):
    text = open(setup_py).read()
    pattern = r"extra_compile_args\['cxx'\] = \['-std=c\+\+17'\]"
    new, count = re.subn(pattern, "extra_compile_args['cxx'] = ['-std=%s']" % standard, text)
    if count != 1:
        sys.exit('patch_mmcv_cxx_std: expected one -std=c++17 line for the CPU ops in %s, found %d'
                 % (setup_py, count))
    open(setup_py, 'w').write(new)


if __name__ == '__main__':
    main(sys.argv[1], sys.argv[2])

// `krun check MODEL.json REFDIR`: runs the model on a reference folder's inputs (written by
// tools/make_reference.py) with the reference kernels, compares every layer call's outputs with
// REFDIR/layers/ in execution order and the final outputs with expected_<i>.npy, names the first
// diverging layer and explains it as far as the reference weights allow.
#pragma once

namespace krun {

// argv[1] is "check". Returns the exit status: 0 all within tolerance, 1 something diverges,
// 2 usage or file error (after printing "krun: error: ..." on stderr).
int check_main(int argc, char ** argv);

}  // namespace krun

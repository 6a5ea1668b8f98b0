// `krun inspect MODEL.json`: without running the model, every layer's expected weights (from its
// config) against the manifest: missing, unused and duplicated names, wrong shapes, quantized
// entries, parameter counts, producer and file dialect.
#pragma once

namespace krun {

// argv[1] is "inspect". Returns the exit status: 0 consistent (warnings allowed), 1 problems,
// 2 usage or unreadable files.
int inspect_main(int argc, char ** argv);

}  // namespace krun

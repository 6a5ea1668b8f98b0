// weightsManifest + binary shards -> named float32 tensors (format-spec section 2), and the
// binding of those tensors to the layers' weight slots by name (section 2.7).
#pragma once

#include <string>
#include <vector>

#include "graph.h"

namespace krun {

struct ManifestWeight {
    std::string name;   // as in the manifest, trailing ":0" removed
    std::string where;  // "weightsManifest[0].weights[3]"
    Tensor value;       // dequantized to float32
    bool quantized = false;
};

// Reads every group's shards (paths relative to `folder`, never escaping it) and decodes the
// entries. Optimizer weights are skipped. Throws naming the file and entry on any mismatch.
std::vector<ManifestWeight> read_weights(const Json & manifest, const std::string & folder, const std::string & model_path);

// Binds manifest weights to the graph's weight slots; throws on missing, unused or ambiguous
// weights. Returns a human-readable binding report.
std::string bind_weights(Graph & graph, std::vector<ManifestWeight> & weights, const std::string & model_path);

}  // namespace krun

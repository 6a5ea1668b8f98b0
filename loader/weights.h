// weightsManifest + binary shards -> named float32 tensors (format-spec section 2), and the
// binding of those tensors to the layers' weight slots by name (section 2.7).
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "graph.h"

namespace krun {

struct ManifestWeight {
    std::string name;   // as in the manifest, trailing ":0" removed
    std::string where;  // "weightsManifest[0].weights[3]"
    Tensor value;       // dequantized to float32
    bool quantized = false;
    std::string stored_dtype;  // dtype of the shard bytes: float32, int32, bool, uint8, uint16, float16
};

// Reads every group's shards (paths relative to `folder`, never escaping it) and decodes the
// entries. Optimizer weights are skipped. Throws naming the file and entry on any mismatch.
std::vector<ManifestWeight> read_weights(const Json & manifest, const std::string & folder, const std::string & model_path);

// What binding found, problems included, without throwing (krun inspect lists them all).
struct BindResult {
    std::string report;  // per layer: slot <- manifest name and shape, then the notes
    std::vector<const ManifestWeight *> unused;                  // match no layer weight
    std::vector<std::pair<const LayerRecord *, size_t>> missing;  // (layer, slot) left unbound
    std::map<std::string, int> duplicates;                       // manifest names seen more than once
};

// Binds manifest weights to the graph's weight slots by name and reports what happened.
BindResult bind_weights_collect(Graph & graph, std::vector<ManifestWeight> & weights);

// Binds manifest weights to the graph's weight slots; throws on unused weights (missing ones
// are refused by Layer::prepare). Returns a human-readable binding report.
std::string bind_weights(Graph & graph, std::vector<ManifestWeight> & weights, const std::string & model_path);

}  // namespace krun
